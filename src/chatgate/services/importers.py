"""Reading other products' exports into one neutral shape.

Three formats: chatgpt-web's browser export (`{"history", "chat"}`), ChatGPT's official data
export (`conversations.json`, a tree of nodes per conversation, branches kept), and ChatGate's own
export. Each is validated against a schema; unknown fields are ignored; ids in the file are only
used to link messages to each other — the database gets new ids and the importer as owner.
Anything that cannot be used is skipped with a reason for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatgate.errors import BadRequest

MAX_TITLE = 200
MAX_MESSAGE = 1_000_000


@dataclass
class ImportedMessage:
    key: str
    parent_key: str | None
    role: str  # user | assistant
    content: str
    status: str = "complete"
    model: str | None = None
    created_at: datetime | None = None
    error: str | None = None


@dataclass
class ImportedConversation:
    title: str
    messages: list[ImportedMessage]
    current_key: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Skipped:
    where: str
    reason: str


@dataclass
class Parsed:
    format: str
    conversations: list[ImportedConversation]
    skipped: list[Skipped] = field(default_factory=list)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _clean(text: str, limit: int) -> str:
    # NUL and lone surrogates cannot be stored everywhere; imported text is kept otherwise as is.
    text = text.replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


def _from_epoch(value: float | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None


# -- chatgpt-web ------------------------------------------------------------------------------
class _WebHistory(_Lenient):
    uuid: int | str
    title: str = ""


class _WebItem(_Lenient):
    dateTime: str = ""
    text: str = ""
    inversion: bool = False
    error: bool = False


class _WebChat(_Lenient):
    uuid: int | str
    data: list[_WebItem] = Field(default_factory=list)


class _WebExport(_Lenient):
    history: list[_WebHistory]
    chat: list[_WebChat]


def _web_time(text: str) -> datetime | None:
    for pattern in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %p%I:%M:%S"):
        try:
            return datetime.strptime(text.strip(), pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _parse_chatgpt_web(data: _WebExport) -> Parsed:
    parsed = Parsed("chatgpt-web", [])
    chats = {str(c.uuid): c for c in data.chat}
    now = datetime.now(UTC)
    # chatgpt-web keeps the newest conversation first; keep that order.
    for position, entry in enumerate(data.history):
        chat = chats.get(str(entry.uuid))
        if chat is None:
            parsed.skipped.append(
                Skipped(f"conversation {entry.title!r}", "no messages in the file")
            )
            continue
        messages: list[ImportedMessage] = []
        for index, item in enumerate(chat.data):
            if not item.text and not item.error:
                parsed.skipped.append(Skipped(f"{entry.title!r} message {index + 1}", "empty"))
                continue
            messages.append(
                ImportedMessage(
                    key=str(index),
                    parent_key=messages[-1].key if messages else None,
                    role="user" if item.inversion else "assistant",
                    content=_clean(item.text, MAX_MESSAGE),
                    status="error" if item.error else "complete",
                    created_at=_web_time(item.dateTime),
                    error=_clean(item.text, 500) if item.error else None,
                )
            )
        stamps = [m.created_at for m in messages if m.created_at]
        fallback = now - timedelta(seconds=position)
        parsed.conversations.append(
            ImportedConversation(
                title=_clean(entry.title, MAX_TITLE) or "Imported chat",
                messages=messages,
                current_key=messages[-1].key if messages else None,
                created_at=min(stamps) if stamps else fallback,
                # The sidebar order of chatgpt-web, newest first, is kept even without dates.
                updated_at=fallback,
            )
        )
    return parsed


# -- ChatGPT's data export ------------------------------------------------------------------------
class _Author(_Lenient):
    role: str = "user"


class _Content(_Lenient):
    content_type: str = "text"
    parts: list[Any] = Field(default_factory=list)
    text: str | None = None


class _NodeMessage(_Lenient):
    id: str = ""
    author: _Author = Field(default_factory=_Author)
    content: _Content = Field(default_factory=_Content)
    create_time: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class _Node(_Lenient):
    id: str = ""
    message: _NodeMessage | None = None
    parent: str | None = None
    children: list[str] = Field(default_factory=list)


class _OfficialConversation(_Lenient):
    title: str | None = None
    create_time: float | None = None
    update_time: float | None = None
    mapping: dict[str, _Node]
    current_node: str | None = None


def _node_text(message: _NodeMessage) -> tuple[str, int]:
    """The text of a node and how many non-text parts (images, files) were left out."""
    texts, dropped = [], 0
    for part in message.content.parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            dropped += 1
    if message.content.text and not texts:
        texts.append(message.content.text)
    return "".join(texts), dropped


def _nearest_kept(
    node_id: str | None, mapping: dict[str, _Node], kept: dict[str, ImportedMessage]
) -> str | None:
    """The closest ancestor that was imported (system and tool nodes are skipped)."""
    seen: set[str] = set()
    while node_id is not None and node_id not in kept and node_id not in seen:
        seen.add(node_id)
        node = mapping.get(node_id)
        node_id = node.parent if node else None
    return node_id if node_id in kept else None


def _parse_official(items: list[_OfficialConversation]) -> Parsed:
    parsed = Parsed("chatgpt", [])
    for number, conversation in enumerate(items, start=1):
        title = _clean(conversation.title or "", MAX_TITLE) or f"Imported chat {number}"
        kept: dict[str, ImportedMessage] = {}

        # Parents before children: walk from the roots.
        order: list[str] = []
        roots = [
            key
            for key, node in conversation.mapping.items()
            if not node.parent or node.parent not in conversation.mapping
        ]
        stack = list(reversed(roots))
        visited: set[str] = set()
        while stack:
            key = stack.pop()
            if key in visited:
                continue
            visited.add(key)
            order.append(key)
            stack.extend(
                reversed(conversation.mapping[key].children if key in conversation.mapping else [])
            )
        for key in order:
            node = conversation.mapping.get(key)
            if node is None or node.message is None:
                continue
            role = node.message.author.role
            text, dropped = _node_text(node.message)
            if dropped:
                parsed.skipped.append(
                    Skipped(f"{title!r}", f"{dropped} image or file part(s) left out (text only)")
                )
            if role not in ("user", "assistant") or not text.strip():
                continue  # system prompts, tool calls and empty nodes; their children re-attach
            kept[key] = ImportedMessage(
                key=key,
                parent_key=_nearest_kept(node.parent, conversation.mapping, kept),
                role=role,
                content=_clean(text, MAX_MESSAGE),
                model=node.message.metadata.get("model_slug"),
                created_at=_from_epoch(node.message.create_time),
            )
        if not kept:
            parsed.skipped.append(Skipped(f"{title!r}", "no user or assistant messages"))
            continue
        current = (
            _nearest_kept(conversation.current_node, conversation.mapping, kept) or list(kept)[-1]
        )
        parsed.conversations.append(
            ImportedConversation(
                title=title,
                messages=list(kept.values()),
                current_key=current,
                created_at=_from_epoch(conversation.create_time),
                updated_at=_from_epoch(conversation.update_time),
            )
        )
    return parsed


# -- ChatGate's own export ------------------------------------------------------------------------
class _OwnMessage(_Lenient):
    id: str
    parent_id: str | None = None
    role: str
    content: str = ""
    status: str = "complete"
    model: str | None = None
    created_at: datetime | None = None


class _OwnConversation(_Lenient):
    title: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    current_leaf_id: str | None = None
    messages: list[_OwnMessage] = Field(default_factory=list)


class _OwnExport(_Lenient):
    format: str
    version: int = 1
    conversations: list[_OwnConversation]


FINAL = {"complete", "stopped", "interrupted", "error"}


def _parse_own(data: _OwnExport) -> Parsed:
    parsed = Parsed("chatgate", [])
    for conversation in data.conversations:
        known = {m.id for m in conversation.messages}
        messages = []
        for message in conversation.messages:
            if message.role not in ("user", "assistant"):
                parsed.skipped.append(
                    Skipped(f"{conversation.title!r}", f"message with role {message.role!r}")
                )
                continue
            messages.append(
                ImportedMessage(
                    key=message.id,
                    parent_key=message.parent_id if message.parent_id in known else None,
                    role=message.role,
                    content=_clean(message.content, MAX_MESSAGE),
                    # A running answer in an export is, in the new home, an interrupted one.
                    status=message.status if message.status in FINAL else "interrupted",
                    model=message.model,
                    created_at=message.created_at,
                )
            )
        parsed.conversations.append(
            ImportedConversation(
                title=_clean(conversation.title, MAX_TITLE) or "Imported chat",
                messages=messages,
                current_key=conversation.current_leaf_id
                if conversation.current_leaf_id in known
                else None,
                created_at=conversation.created_at,
                updated_at=conversation.updated_at,
                settings=conversation.settings,
            )
        )
    return parsed


def parse(raw: bytes) -> Parsed:
    """Detect the format and read it; a file that is none of them is a clear 400."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The file is not valid JSON (it may be truncated): {exc}.") from exc
    try:
        if isinstance(data, dict) and data.get("format") == "chatgate":
            return _parse_own(_OwnExport.model_validate(data))
        if isinstance(data, dict) and "history" in data and "chat" in data:
            return _parse_chatgpt_web(_WebExport.model_validate(data))
        if isinstance(data, list) and all(
            isinstance(item, dict) and "mapping" in item for item in data
        ):
            return _parse_official([_OfficialConversation.model_validate(item) for item in data])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadRequest(
            f"The file does not have the expected shape at {where}: {first['msg']}."
        ) from exc
    raise BadRequest(
        "This is not an export ChatGate knows: use chatgpt-web's export, ChatGPT's conversations.json, "
        "or a ChatGate export."
    )
