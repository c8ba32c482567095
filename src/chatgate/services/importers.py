"""Reading other products' exports into one neutral shape.

Three formats: chatgpt-web's browser export (`{"history", "chat"}`, also in the
`{"data": {...}, "expire": null}` envelope of its localStorage copy), ChatGPT's official data
export (`conversations.json`, a tree of nodes per conversation, branches kept), and ChatGate's own
export. Each is validated against a schema; unknown fields are ignored; ids in the file are only
used to link messages to each other — the database gets new ids and the importer as owner.
Anything that cannot be used is skipped with a reason for the report.

What a file says is never trusted to fit the database: text loses NUL characters (PostgreSQL
cannot store them), model names are at most 200 characters, dates are UTC between 1970 and 2999
(a ChatGate export with an impossible date or a repeated message id is refused; the looser
formats treat such a date as missing), and the message tree is made a tree (a parent that is
missing or loops back becomes no parent). `parse` is synchronous and CPU-bound: callers run it off
the event loop (chatgate.services.import_worker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from chatgate.errors import BadRequest

MAX_TITLE = 200
MAX_MESSAGE = 1_000_000
MAX_MODEL = 200  # the width of messages.model
# Dates outside this range are mistakes (or attacks on date arithmetic), never real history.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


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


def _utc(value: datetime) -> datetime | None:
    """The same instant in UTC (a date without an offset is taken as UTC), or None when it is
    outside EARLIEST..LATEST."""
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return value if EARLIEST <= value < LATEST else None


def _from_epoch(value: float | None) -> datetime | None:
    if value is None:
        return None
    try:
        return _utc(datetime.fromtimestamp(float(value), UTC))
    except (OverflowError, OSError, ValueError):
        return None


def _storable(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


def _in_range(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    converted = _utc(value)
    if converted is None:
        raise ValueError("the date must be between 1970 and 2999")
    return converted


# A model name as the database stores it.
ModelName = Annotated[str, Field(max_length=MAX_MODEL), AfterValidator(_storable)]
Stamp = Annotated[datetime, AfterValidator(_in_range)]


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
            return _utc(datetime.strptime(text.strip(), pattern).replace(tzinfo=UTC))
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


class _Metadata(_Lenient):
    model_slug: ModelName | None = None


class _NodeMessage(_Lenient):
    id: str = ""
    author: _Author = Field(default_factory=_Author)
    content: _Content = Field(default_factory=_Content)
    create_time: float | None = None
    metadata: _Metadata | None = None


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
                model=node.message.metadata.model_slug if node.message.metadata else None,
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
    model: ModelName | None = None
    created_at: Stamp | None = None


class _OwnConversation(_Lenient):
    title: str = ""
    created_at: Stamp | None = None
    updated_at: Stamp | None = None
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
    for number, conversation in enumerate(data.conversations):
        known: set[str] = set()
        for message in conversation.messages:
            if message.id in known:
                raise BadRequest(
                    f"The file is not a usable export: conversation {number + 1} "
                    f"({_clean(conversation.title, 60)!r}) has two messages with the id "
                    f"{_clean(message.id, 40)!r}."
                )
            known.add(message.id)
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


def untangle(conversation: ImportedConversation) -> None:
    """Make the messages a tree, parents listed before their children (file order otherwise):
    a parent that is not in the conversation, the message itself, or a descendant (a loop) becomes
    no parent. Code that walks from a message to its root may then never loop."""
    messages = conversation.messages
    by_key = {m.key: m for m in messages}
    state: dict[str, int] = {}  # 1: on the current walk, 2: known to reach a root
    for message in messages:
        if message.parent_key is not None and message.parent_key not in by_key:
            message.parent_key = None
    for message in messages:
        path: list[ImportedMessage] = []
        node: ImportedMessage | None = message
        while node is not None and node.key not in state:
            state[node.key] = 1
            path.append(node)
            node = by_key[node.parent_key] if node.parent_key is not None else None
        if node is not None and state[node.key] == 1:
            path[-1].parent_key = None  # the edge that closes the loop
        for walked in path:
            state[walked.key] = 2
    ordered: list[ImportedMessage] = []
    placed: set[str] = set()
    for message in messages:
        pending: list[ImportedMessage] = []
        node = message
        while node is not None and node.key not in placed:
            pending.append(node)
            placed.add(node.key)
            node = by_key[node.parent_key] if node.parent_key is not None else None
        ordered.extend(reversed(pending))
    conversation.messages = ordered
    if conversation.current_key not in by_key:
        conversation.current_key = None


def _unwrap(data: Any) -> Any:
    """chatgpt-web keeps its history in localStorage as `{"data": {...}, "expire": null}`; a copy
    of that value is as good as its export."""
    if (
        isinstance(data, dict)
        and isinstance(data.get("data"), dict)
        and "history" in data["data"]
        and "chat" in data["data"]
        and "history" not in data
    ):
        return data["data"]
    return data


def parse(raw: bytes | bytearray | memoryview) -> Parsed:
    """Detect the format and read it; a file that is none of them is a clear 400."""
    try:
        data = _unwrap(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The file is not valid JSON (it may be truncated): {exc}.") from exc
    parsed: Parsed | None = None
    try:
        if isinstance(data, dict) and data.get("format") == "chatgate":
            parsed = _parse_own(_OwnExport.model_validate(data))
        elif isinstance(data, dict) and "history" in data and "chat" in data:
            parsed = _parse_chatgpt_web(_WebExport.model_validate(data))
        elif isinstance(data, list) and all(
            isinstance(item, dict) and "mapping" in item for item in data
        ):
            parsed = _parse_official([_OfficialConversation.model_validate(item) for item in data])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadRequest(
            f"The file does not have the expected shape at {_clean(where, 200)}: "
            f"{_clean(first['msg'], 300)}."
        ) from None
    if parsed is None:
        raise BadRequest(
            "This is not an export ChatGate knows: use chatgpt-web's export, ChatGPT's "
            "conversations.json, or a ChatGate export."
        )
    for conversation in parsed.conversations:
        untangle(conversation)
    return parsed
