"""What is sent upstream: the system prompt, then as much of the stored branch as the
conversation's settings and the model's window allow, newest kept."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chatgate.config import ModelConfig
from chatgate.db.models import Message
from chatgate.providers.base import ChatMessage
from chatgate.providers.surface import ImagePart
from chatgate.services import tokens
from chatgate.services.conversations import ConversationSettings

DEFAULT_CONTEXT_WINDOW = 8192
DEFAULT_OUTPUT_RESERVE = 1024
# Known windows for common models when the configuration does not say (prefix match).
KNOWN_WINDOWS = {
    "gpt-4o": 128_000,
    "gpt-4.1": 1_000_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4": 200_000,
    "gpt-5": 400_000,
    "claude": 200_000,
    "deepseek": 64_000,
    "text-davinci-002-render": 8_192,
}


@dataclass(frozen=True, slots=True)
class Context:
    messages: list[ChatMessage]
    prompt_tokens: int | None  # counted while trimming; None when trimming needed no count
    dropped: int  # earlier messages left out


def context_window(model: ModelConfig) -> int:
    if model.context_window:
        return model.context_window
    name = model.upstream_name.lower()
    for prefix, window in sorted(KNOWN_WINDOWS.items(), key=lambda item: -len(item[0])):
        if name.startswith(prefix):
            return window
    return DEFAULT_CONTEXT_WINDOW


def usable_history(branch: Sequence[Message]) -> list[Message]:
    """Messages worth sending: non-empty text from finished or partial turns."""
    return [m for m in branch if m.content and m.role in ("user", "assistant")]


# What an image costs in a context, for the budget (providers count 85–1,600 tokens an image).
IMAGE_TOKENS = 1_000


@dataclass(frozen=True, slots=True)
class File:
    """An attachment as the context needs it."""

    name: str
    kind: str  # image | document
    media_type: str
    text: str | None = None  # documents: the extracted text
    tokens: int | None = None
    data: bytes | None = None  # images: the stored bytes

    @property
    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data or b'').decode()}"


Files = Mapping[str, Sequence[File]]  # message id → its files, in order


def _document(file: File, text: str | None = None) -> str:
    shown = (file.text or "") if text is None else text
    block = f"[{file.name} — {file.tokens or 0:,} tokens]\n{shown}"
    if text is not None and text != (file.text or ""):
        block += f"\n[… truncated: the rest of {file.name} did not fit]"
    return block


def _message(
    role: str,
    content: str,
    files: Sequence[File],
    *,
    vision: bool,
    cut: Mapping[int, str] | None = None,
) -> ChatMessage:
    """A turn with its files: documents as text before the question, images as image parts
    (for a model that cannot see, earlier turns' images are named instead)."""
    if not files:
        return ChatMessage(role, content)
    pieces: list[str] = []
    images: list[ImagePart] = []
    for index, file in enumerate(files):
        if file.kind == "image":
            if vision:
                images.append(ImagePart(file.data_url))
            else:
                pieces.append(f"[image {file.name}: not shown to this model]")
        else:
            pieces.append(_document(file, cut.get(index) if cut else None))
    text = "\n\n".join([*pieces, content])
    return ChatMessage(role, text, (text, *images) if images else ())


def _cost_bound(message: ChatMessage) -> int:
    images = sum(isinstance(part, ImagePart) for part in message.parts)
    return tokens.upper_bound(message.content) + images * IMAGE_TOKENS


def _cost(message: ChatMessage) -> int:
    images = sum(isinstance(part, ImagePart) for part in message.parts)
    return tokens.count_message(message.content) + images * IMAGE_TOKENS


@dataclass(frozen=True, slots=True)
class Plan:
    """What a context is made of, measured in bytes before any token is counted."""

    history: list[Message]
    system: list[ChatMessage]
    fixed: list[ChatMessage]  # the system prompt, the question (and a partial answer)
    earlier: list[ChatMessage]  # what may be dropped, oldest first
    budget: int
    upper: int  # at least as many tokens as all of it: ≤ budget means it fits without counting
    # The question's own text and files, to cut its documents when they do not fit.
    question: tuple[str, str, Sequence[File]] | None = None
    vision: bool = False

    @property
    def needs_counting(self) -> bool:
        """Whether `assemble` will count tokens (so the tokenizer must be loaded first)."""
        return self.upper > self.budget


def plan(
    branch: Sequence[Message],
    settings: ConversationSettings,
    model: ModelConfig,
    *,
    continuation: str | None = None,
    files: Files | None = None,
    vision: bool = False,
) -> Plan:
    """`branch` ends with the user message being answered (or before `continuation`);
    `files` are the branch's attachments by message id."""
    files = files or {}
    history = usable_history(branch)
    latest, earlier = (history[-1:], history[:-1]) if history else ([], [])
    if settings.context_messages is not None:
        earlier = earlier[-settings.context_messages :] if settings.context_messages else []

    reserve = settings.max_tokens or model.max_output_tokens or DEFAULT_OUTPUT_RESERVE
    budget = context_window(model) - reserve
    if settings.context_tokens:
        budget = min(budget, settings.context_tokens)

    system = (
        [ChatMessage("system", settings.system_prompt)] if settings.system_prompt.strip() else []
    )
    fixed = [
        *system,
        *(_message(m.role, m.content, files.get(m.id, ()), vision=vision) for m in latest),
    ]
    if continuation:
        fixed.append(ChatMessage("assistant", continuation))
    kept = [_message(m.role, m.content, files.get(m.id, ()), vision=vision) for m in earlier]
    # A token is at least one byte: when the bytes fit, so do the tokens, and the tokenizer (40 MB,
    # ~0.4 s to load) is not needed at all.
    upper = sum(_cost_bound(m) for m in fixed) + sum(_cost_bound(m) for m in kept)
    question = None
    if latest and files.get(latest[0].id):
        question = (latest[0].role, latest[0].content, files[latest[0].id])
    return Plan(history, system, fixed, kept, budget, upper, question, vision)


def _fit_documents(parts: Plan, used: int) -> tuple[ChatMessage, int] | None:
    """The question with its documents cut to what the budget leaves them, and its cost; None
    when it has no document to cut."""
    assert parts.question is not None
    role, content, files = parts.question
    documents = [i for i, f in enumerate(files) if f.kind != "image" and f.text]
    if not documents:
        return None
    index = len(parts.system)
    question = parts.fixed[index]
    whole = sum(tokens.count(files[i].text or "") for i in documents)
    room = max(0, parts.budget - (used - whole))
    cut: dict[int, str] = {}
    for i in documents:
        text = files[i].text or ""
        # Each header and truncation marker costs a few tokens of the room.
        allowed = max(0, room - 40)
        shown = tokens.cut(text, allowed)
        cut[i] = shown
        room = max(0, room - tokens.count(shown) - 40)
    question = _message(role, content, files, vision=parts.vision, cut=cut)
    return question, _cost(question) - _cost(parts.fixed[index])


def assemble(parts: Plan) -> Context:
    """The messages to send: all of them when they fit, else the newest that fit the budget.
    A question whose documents alone do not fit has them cut, with a visible marker."""
    history, system, fixed, earlier, budget = (
        parts.history,
        parts.system,
        parts.fixed,
        parts.earlier,
        parts.budget,
    )
    latest = history[-1:]
    if not parts.needs_counting:
        return Context(
            [*system, *earlier, *fixed[len(system) :]],
            None,
            max(0, len(history) - len(latest) - len(earlier)),
        )
    used = sum(_cost(m) for m in fixed)
    if used > budget and parts.question is not None:
        fitted = _fit_documents(parts, used)
        if fitted is not None:
            question, change = fitted
            fixed = [*fixed[: len(system)], question, *fixed[len(system) + 1 :]]
            used += change
    kept: list[ChatMessage] = []
    for message in reversed(earlier):
        cost = _cost(message)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    # The system prompt stays first, the question (and partial answer) last.
    messages = [*system, *kept, *fixed[len(system) :]]
    return Context(messages, used, max(0, len(history) - len(latest) - len(kept)))
