"""Every error code the server can send is documented in docs/api.md and has a sentence in every
language of the web app.

The codes come from the code: every `ChatGateError` subclass in every module of the package (the
classes are found by walking the subclasses after importing every module, so a new error class
anywhere is caught), and any code written as a string literal where errors are made (a stored
`error_code="…"`, an event's `"code": "…"`, a `generation.error = ("…", …)`) must be one of them.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import chatgate
from chatgate import errors

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "chatgate"
LOCALES = ROOT / "web" / "src" / "locales"
# Not importable as a library module (the CLI entry point runs on import; migrations are scripts).
SKIP = ("chatgate.__main__", "chatgate.db.migrations")


def _import_everything() -> None:
    for module in pkgutil.walk_packages(chatgate.__path__, "chatgate."):
        if not module.name.startswith(SKIP):
            importlib.import_module(module.name)


_import_everything()
CODES = errors.all_codes()


def test_the_catalogue_is_found_from_the_code() -> None:
    # Classes outside errors.py (services/quotas.py) and the stored-only codes are part of it.
    for code in ("input_too_long", "model_not_allowed", "interrupted", "imported_error"):
        assert code in CODES
    assert {"context_too_long", "upstream_resting", "method_not_allowed"} <= set(CODES)
    assert len(CODES) >= 35
    for code, kind in CODES.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code), (code, kind)


_LITERAL_CODES = (
    re.compile(r"error_code\s*=\s*\"([a-z_]+)\""),
    re.compile(r"\"code\"\s*:\s*f?\"([a-z_{}.]+)\""),
    re.compile(r"\.error\s*=\s*\(\s*\"([a-z_]+)\""),
    re.compile(r"error_for_code\(\s*\"([a-z_]+)\""),
)


def test_the_scan_for_string_codes_sees_each_way_of_writing_one() -> None:
    samples = (
        'error_code="imported_error" if message.error else None',
        'emit(ERROR, {"code": "interrupted", "message": "…"})',
        'generation.error = ("internal_error", "Something went wrong on the server.")',
        'error_response(error_for_code("upstream_error", text))',
    )
    for sample, pattern in zip(samples, _LITERAL_CODES, strict=True):
        assert pattern.search(sample), sample


def test_codes_written_as_strings_are_catalogued() -> None:
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        for pattern in _LITERAL_CODES:
            for match in pattern.finditer(text):
                found[match.group(1)] = str(path.relative_to(ROOT))
    unknown = {code: where for code, where in found.items() if code not in CODES}
    assert not unknown, f"codes without an error class in chatgate.errors: {unknown}"


def _documented() -> dict[str, list[str]]:
    """The rows of docs/api.md's error table: code -> [HTTP status, when, what to do]."""
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`([a-z_]+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_every_code_is_documented_with_its_status_and_what_to_do() -> None:
    rows = _documented()
    assert sorted(set(CODES) - set(rows)) == [], "codes missing from docs/api.md"
    assert sorted(set(rows) - set(CODES)) == [], "docs/api.md lists codes the server never sends"
    for code, (status, when, what_to_do) in rows.items():
        assert when and what_to_do, code
        number = re.match(r"\d{3}", status)
        if number:
            assert int(number.group()) == CODES[code].status, f"{code}: {status}"
        else:
            assert status.startswith("—"), f"{code}: status column {status!r}"
    assert "Retry-After" in rows["upstream_resting"][0]
    assert "retry_at" in rows["upstream_resting"][1]


def _locale_errors(path: Path) -> dict[str, str]:
    text = path.read_text()
    block = re.search(r"\n  errors: \{\n(.*?)\n  \},", text, re.S)
    assert block, f"{path.name} has no errors section"
    # Prettier puts a sentence too long for one line on the next, indented under its key, and
    # quotes one holding an apostrophe with double quotes.
    entries = re.findall(
        r"""^    (\w+):\s+(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"),$""", block.group(1), re.M
    )
    return {key: single or double for key, single, double in entries}


LOCALE_FILES = sorted(p for p in LOCALES.glob("*-*.ts") if not p.name.endswith(".test.ts"))


def test_there_are_locales_to_check() -> None:
    assert len(LOCALE_FILES) >= 10
    assert {"en-US.ts", "zh-CN.ts", "zh-TW.ts"} <= {p.name for p in LOCALE_FILES}


@pytest.mark.parametrize("path", LOCALE_FILES, ids=lambda p: p.stem)
def test_every_code_has_a_sentence_in_every_language(path: Path) -> None:
    english = _locale_errors(LOCALES / "en-US.ts")
    sentences = _locale_errors(path)
    missing = sorted(code for code in CODES if code not in sentences)
    assert missing == [], f"{path.name} has no errors.<code> for {missing}"
    for code in CODES:
        assert sentences[code].strip(), f"{path.name} errors.{code} is empty"
        if path.name != "en-US.ts":
            assert sentences[code] != english[code], f"{path.name} errors.{code} is English"


def test_a_prompt_too_long_says_what_to_do() -> None:
    english = _locale_errors(LOCALES / "en-US.ts")["context_too_long"].lower()
    for way_out in ("new chat", "shorten", "context messages", "chat settings"):
        assert way_out in english
    for path in LOCALE_FILES:
        retry_at = _locale_errors(path)["retryAt"]
        assert "{time}" in retry_at and "{relative}" in retry_at, path.name
