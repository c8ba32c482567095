"""The account-wide HTML export: every conversation as it reads on screen, in one inert file.

Answers go through CommonMark with raw HTML off (markdown-it-py, the Python port of the parser the
web app uses), code is highlighted by Pygments into classes styled in the file, and math becomes
MathML (latex2mathml), which browsers draw natively: readable with scripts off and offline. Each
answer says when it was stopped, interrupted or failed. The file forbids scripts and every fetch
with its own Content-Security-Policy, and is sent as an attachment, never rendered at our origin.

The page for one conversation is built by the web app from what is on screen (KaTeX, diagrams);
this one is streamed by the server, a page of conversations at a time, for a whole account.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from chatgate.db.models import AnswerStatus

# Beyond these, text is shown as it is: highlighting and math layout are not worth a stall.
MAX_HIGHLIGHTED_CHARS = 100_000
MAX_MATH_CHARS = 4_000


@dataclass(frozen=True, slots=True)
class PageLabels:
    """The words of the page, in the language the person chose (the web app's own strings)."""

    you: str
    assistant: str
    thoughts: str
    stopped: str
    interrupted: str
    failed: str
    unfinished: str


# The same sentences as the web app's `chat.*`/`export.*` strings for the exported page
# (tests/unit/test_export_page.py checks each one against web/src/locales).
LABELS: dict[str, PageLabels] = {
    "en-US": PageLabels(
        "You", "Assistant", "Thoughts", "Stopped",
        "This answer was interrupted before it finished.", "The answer failed",
        "This answer was still being written when the page was saved.",
    ),
    "zh-CN": PageLabels(
        "你", "助手", "思考过程", "已停止", "此回答在完成前被中断。", "回答失败",
        "保存页面时，这个回答还在生成中。",
    ),
    "zh-TW": PageLabels(
        "你", "助理", "思考過程", "已停止", "此回答在完成前被中斷。", "回答失敗",
        "儲存頁面時，這個回答仍在產生中。",
    ),
    "ja-JP": PageLabels(
        "あなた", "アシスタント", "思考過程", "停止しました", "この回答は完了前に中断されました。",
        "回答に失敗しました", "ページを保存した時点で、この回答はまだ生成中でした。",
    ),
    "ko-KR": PageLabels(
        "나", "어시스턴트", "생각 과정", "중지됨", "이 답변은 완료되기 전에 중단되었습니다.",
        "답변에 실패했습니다", "페이지를 저장할 때 이 답변은 아직 작성 중이었습니다.",
    ),
    "ru-RU": PageLabels(
        "Вы", "Ассистент", "Размышления", "Остановлено", "Этот ответ был прерван до завершения.",
        "Не удалось получить ответ", "Когда страницу сохранили, этот ответ ещё писался.",
    ),
    "de-DE": PageLabels(
        "Sie", "Assistent", "Gedankengang", "Gestoppt",
        "Diese Antwort wurde vor ihrem Ende unterbrochen.", "Die Antwort ist fehlgeschlagen",
        "Diese Antwort wurde noch geschrieben, als die Seite gespeichert wurde.",
    ),
    "fr-FR": PageLabels(
        "Vous", "Assistant", "Raisonnement", "Arrêtée",
        "Cette réponse a été interrompue avant la fin.", "La réponse a échoué",
        "Cette réponse était encore en cours d’écriture quand la page a été enregistrée.",
    ),
    "es-ES": PageLabels(
        "Tú", "Asistente", "Razonamiento", "Detenida",
        "Esta respuesta se interrumpió antes de terminar.", "La respuesta falló",
        "Esta respuesta aún se estaba escribiendo cuando se guardó la página.",
    ),
    "vi-VN": PageLabels(
        "Bạn", "Trợ lý", "Suy nghĩ", "Đã dừng",
        "Câu trả lời này đã bị gián đoạn trước khi hoàn tất.", "Không tạo được câu trả lời",
        "Câu trả lời này vẫn đang được viết khi trang được lưu.",
    ),
}  # fmt: skip
DEFAULT_LANG = "en-US"


def page_language(requested: str | None) -> str:
    """The shipped language closest to `requested` ("zh-TW", "fr", "de-AT" …), else English."""
    if not requested:
        return DEFAULT_LANG
    wanted = requested.strip().lower()
    for lang in LABELS:
        if lang.lower() == wanted:
            return lang
    base = wanted.split("-")[0]
    return next((lang for lang in LABELS if lang.lower().split("-")[0] == base), DEFAULT_LANG)


# -- markdown -----------------------------------------------------------------------------------
_UNSAFE_MATH_ATTRIBUTES = re.compile(r'\s(?:href|xlink:href|src|on[a-z]+)="[^"]*"', re.IGNORECASE)
# As KaTeX's maxSize in the web app: `\rule{1000000em}{…}` must not become a page-sized block.
_SIZES = re.compile(r'\b(width|height|depth|lspace|rspace|minsize|maxsize)="(\d+(?:\.\d+)?)')
MAX_MATH_SIZE = 20
_FORMATTER = HtmlFormatter(nowrap=True, classprefix="hl-")


def _clamp_size(match: re.Match[str]) -> str:
    return f'{match[1]}="{min(float(match[2]), MAX_MATH_SIZE):g}'


def _math(tex: str, display: bool) -> str:
    """MathML for `tex`, or the TeX itself (escaped) when it is too long or not understood."""
    mode = "block" if display else "inline"
    mathml = None
    if len(tex) <= MAX_MATH_CHARS:
        try:
            mathml = latex_to_mathml(tex, display=mode)
        except Exception:  # noqa: BLE001 - any TeX it cannot read is shown as TeX
            mathml = None
    if mathml is not None:
        # \href and friends become attributes; the file's CSP already forbids what they could
        # do, and they are removed anyway.
        return _SIZES.sub(_clamp_size, _UNSAFE_MATH_ATTRIBUTES.sub("", mathml))
    tag = "pre" if display else "code"
    return f'<{tag} class="math-source">{html.escape(tex)}</{tag}>'


def _highlight(code: str, lang: str, _attrs: Any) -> str:
    if not lang or len(code) > MAX_HIGHLIGHTED_CHARS:
        return ""  # markdown-it escapes it
    try:
        lexer = get_lexer_by_name(lang.split()[0])
    except ClassNotFound:
        return ""
    return str(highlight(code, lexer, _FORMATTER))


def _latex_delimiters(open_: str, close: str, display: bool) -> Callable[[StateInline, bool], bool]:
    """`\\(…\\)` and `\\[…\\]`, which models emit as often as dollars (as the web app reads them)."""

    def rule(state: StateInline, silent: bool) -> bool:
        if not state.src.startswith(open_, state.pos):
            return False
        start = state.pos + len(open_)
        end = state.src.find(close, start)
        if end <= start:
            return False
        if not silent:
            token = state.push("math_latex", "math", 0)
            token.content = state.src[start:end]
            token.meta = {"display": display}
        state.pos = end + len(close)
        return True

    return rule


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(
        md,
        double_inline=True,
        allow_space=False,
        allow_digits=False,
        renderer=lambda tex, options: _math(tex, bool(options.get("display_mode"))),
    )
    # Before "escape", which would otherwise turn "\(" into "(".
    md.inline.ruler.before("escape", "math_paren", _latex_delimiters("\\(", "\\)", False))
    md.inline.ruler.before("escape", "math_bracket", _latex_delimiters("\\[", "\\]", True))
    md.add_render_rule(
        "math_latex",
        lambda self, tokens, idx, options, env: _math(
            tokens[idx].content, bool(tokens[idx].meta["display"])
        ),
    )
    # Links open outside the file and never say who sent the reader.
    md.add_render_rule("link_open", _link_open)
    # Remote images are not fetched (the CSP would refuse them anyway): a link says what they were.
    md.add_render_rule("image", _image_as_link)
    return md


def _link_open(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer")
    return str(self.renderToken(tokens, idx, options, env))


def _image_as_link(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env) or src
    return f'<a href="{html.escape(src)}" rel="noopener noreferrer">{html.escape(alt)}</a>'


_MD = _markdown()


def render_markdown(text: str) -> str:
    """Sanitised HTML for an answer: raw HTML escaped, unsafe link schemes refused (markdown-it's
    own `validateLink`), code highlighted, math as MathML."""
    return str(_MD.render(text))


# -- the page -----------------------------------------------------------------------------------
def _note(message: Any, labels: PageLabels) -> str:
    status = message.status
    if status == AnswerStatus.error or message.error_code:
        text = message.error_message or labels.failed
        return f'<p class="note note-error">{html.escape(text)}</p>'
    if status == AnswerStatus.interrupted:
        return f'<p class="note note-warning">{html.escape(labels.interrupted)}</p>'
    if status == AnswerStatus.stopped:
        return f'<p class="note note-stopped">{html.escape(labels.stopped)}</p>'
    if status in (AnswerStatus.streaming, AnswerStatus.queued):
        return f'<p class="note note-warning">{html.escape(labels.unfinished)}</p>'
    return ""


def _files(files: Sequence[Any], images: Mapping[str, bytes]) -> str:
    """A question's files: images inline (as data: URLs, the page loads nothing), documents by
    name."""
    shown = []
    for file in files:
        name = html.escape(file.name)
        data = images.get(file.id)
        if file.kind == "image" and data is not None:
            url = f"data:{file.media_type};base64,{base64.b64encode(data).decode()}"
            shown.append(f'<img class="attached" src="{url}" alt="{name}" title="{name}">')
        else:
            shown.append(f'<span class="file">📄 {name}</span>')
    return f'<div class="files">{"".join(shown)}</div>' if shown else ""


def _turn(
    message: Any,
    labels: PageLabels,
    files: Sequence[Any] = (),
    images: Mapping[str, bytes] | None = None,
) -> str:
    if message.role == "user":
        return (
            f'<section class="turn turn-user"><div class="who">{html.escape(labels.you)}</div>'
            f"{_files(files, images or {})}"
            f'<div class="bubble">{html.escape(message.content)}</div></section>'
        )
    thoughts = (
        f'<details class="thoughts"><summary>{html.escape(labels.thoughts)}</summary>'
        f'<div class="markdown-body">{render_markdown(message.reasoning)}</div></details>'
        if message.reasoning
        else ""
    )
    model = f'<div class="model">{html.escape(message.model)}</div>' if message.model else ""
    return (
        f'<section class="turn turn-assistant"><div class="who">{html.escape(labels.assistant)}'
        f'</div>{thoughts}<div class="markdown-body">{render_markdown(message.content)}</div>'
        f"{_note(message, labels)}{model}</section>"
    )


def conversation_section(
    conversation: Any,
    branch: Sequence[Any],
    labels: PageLabels,
    files: Mapping[str, Sequence[Any]] | None = None,
    images: Mapping[str, bytes] | None = None,
) -> str:
    """One conversation: its title, when it was last active, and the branch shown on screen
    (with the questions' files: `files` by message id, images' bytes by file id)."""
    files = files or {}
    turns = "\n".join(_turn(m, labels, files.get(m.id, ()), images) for m in branch)
    when = conversation.updated_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<article class="conversation"><h1 class="title">{html.escape(conversation.title)}</h1>'
        f'<p class="meta"><time datetime="{conversation.updated_at.isoformat()}">{when}</time></p>'
        f"{turns}</article>\n"
    )


_PAGE_CSS = """
:root{--font:ui-sans-serif,system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC",
"Microsoft YaHei","Noto Sans CJK SC",sans-serif;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,
"Liberation Mono",monospace;--text:#0d0d0d;--muted:#5f5f5f;--border:#e5e5e5;--bubble:#f1f1f1;
--code-bg:#f6f8fa;--danger:#c0283f;--warn:#8f5b00;color-scheme:light}
*{box-sizing:border-box}
body{margin:0;color:var(--text);font-family:var(--font);line-height:1.6}
main{max-width:48rem;margin:0 auto;padding:2rem 1rem 4rem}
.conversation{margin:0 0 4rem;padding-top:1rem;border-top:1px solid var(--border)}
.title{font-size:1.5rem;line-height:1.3;margin:0 0 .3rem;overflow-wrap:anywhere}
.meta{margin:0 0 1.5rem;color:var(--muted);font-size:.85rem}
.turn{margin:0 0 1.75rem}
.turn-user{display:flex;flex-direction:column;align-items:flex-end}
.who{margin-bottom:.3rem;color:var(--muted);font-size:.75rem;font-weight:600;
text-transform:uppercase;letter-spacing:.04em}
.bubble{max-width:min(85%,40rem);padding:.6rem 1rem;border-radius:1.25rem;background:var(--bubble);
white-space:pre-wrap;overflow-wrap:anywhere}
.model{margin-top:.4rem;color:var(--muted);font-size:.75rem}
.files{display:flex;flex-wrap:wrap;justify-content:flex-end;gap:.5rem;margin-bottom:.4rem}
.attached{max-width:min(85%,20rem);max-height:20rem;border-radius:.75rem;border:1px solid var(--border)}
.file{padding:.3rem .7rem;border:1px solid var(--border);border-radius:.75rem;font-size:.85rem}
.note{margin-top:.75rem;padding:.5rem .75rem;border-radius:10px;font-size:.875rem}
.note-warning{color:var(--warn);border:1px solid #e6cf9e;background:#fbf6ea}
.note-error{color:var(--danger);border:1px solid #edb8c1;background:#fcf1f3}
.note-stopped{padding:0;color:var(--muted);font-size:.8rem}
details.thoughts{margin:0 0 .75rem;padding-left:.85rem;border-left:2px solid var(--border);
color:var(--muted);font-size:.9rem}
.markdown-body{overflow-wrap:anywhere}
.markdown-body pre{background:var(--code-bg);padding:.75rem 1rem;border-radius:8px;overflow-x:auto;
font-size:.875rem;line-height:1.5}
.markdown-body code{font-family:var(--mono);font-size:.875em}
.markdown-body :not(pre)>code{background:var(--code-bg);padding:.1em .35em;border-radius:4px}
.markdown-body table{border-collapse:collapse;display:block;overflow-x:auto}
.markdown-body th,.markdown-body td{border:1px solid var(--border);padding:.35rem .7rem}
.markdown-body blockquote{margin:1em 0;padding-left:1em;border-left:3px solid var(--border);
color:var(--muted)}
.markdown-body ul,.markdown-body ol{padding-left:1.5rem}
math{font-size:1.1em}
math[display=block]{margin:1em 0;overflow-x:auto}
"""


# Only the token colours (not Pygments' line-number rules): computed once.
_CODE_CSS = "\n".join(
    _FORMATTER.get_token_style_defs(".markdown-body pre code")  # type: ignore[no-untyped-call]
)


def page_head(lang: str, title: str) -> str:
    code_css = _CODE_CSS
    return f"""<!doctype html>
<html lang="{html.escape(lang)}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ChatGate">
<title>{html.escape(title)}</title>
<style>{_PAGE_CSS}
{code_css}</style>
</head>
<body>
<main>
"""


PAGE_TAIL = "</main>\n</body>\n</html>\n"
