"""Reading other products' exports into one neutral shape.

Three formats: chatgpt-web's browser export (`{"history", "chat"}`, also in the
`{"data": {...}, "expire": null}` envelope of its localStorage copy), ChatGPT's official data
export (`conversations.json`, a tree of nodes per conversation, branches kept), and ChatGate's own
export. Each is validated against a schema; unknown fields are ignored; ids of messages in the file
are only used to link messages to each other — the database gets new ids and the importer as
owner. A conversation keeps the id its source gave it (`source`, `key`: chatgpt-web's history
uuid, ChatGPT's conversation id, a ChatGate conversation id or the source that conversation itself
came from), so importing the same file again can add nothing, and its original creation and
update times, so old chats sort among old chats. Anything that cannot be used is left out with a
reason for the report.

What a file says is never trusted to fit the database: text loses NUL characters (PostgreSQL
cannot store them), model names are at most 200 characters, dates are UTC between 1970 and 2999
(a ChatGate export with an impossible date or a repeated message id is refused; the looser
formats treat such a date as missing), and the message tree is made a tree (a parent that is
missing or loops back becomes no parent). `parse` is synchronous and CPU-bound: callers run it off
the event loop (chatgate.services.import_worker).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from chatgate.errors import BadRequest

MAX_TITLE = 200
MAX_MESSAGE = 1_000_000
MAX_MODEL = 200  # the width of messages.model
# Dates outside this range are mistakes (or attacks on date arithmetic), never real history.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


MAX_KEY = 200  # the width of conversations.import_key
SOURCES = ("chatgpt-web", "chatgpt", "chatgate")
# What is said about one conversation (counts by code), for a report people read in their language.
EMPTY_MESSAGES = "empty_messages"  # messages without text, left out
ATTACHMENTS = "attachments_left_out"  # images and files: only the text is imported
OTHER_ROLES = "other_roles_left_out"  # system prompts, tool calls
# Why a conversation of the file is not imported.
EMPTY = "empty"
REPEATED = "repeated_in_file"


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
    # Where in the file (the report keeps the file's order) and which conversation of its source.
    position: int = 0
    source: str | None = None
    key: str | None = None
    notes: dict[str, int] = field(default_factory=dict)
    # What the messages said when imported: a re-import tells "changed at the source since".
    digest: str = ""


@dataclass
class LeftOut:
    """A conversation of the file that is not imported, and why (EMPTY or REPEATED)."""

    position: int
    title: str
    reason: str
    messages: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Skipped:
    where: str
    reason: str


@dataclass
class Parsed:
    format: str
    conversations: list[ImportedConversation]
    skipped: list[Skipped] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)


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


def _source_key(value: Any) -> str | None:
    """A source's id as a key: text or a whole number; a long or unstorable one by its hash."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    key = str(value).strip()
    if not key:
        return None
    if len(key) > MAX_KEY or _clean(key, MAX_KEY) != key:
        return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def _digest(conversation: ImportedConversation) -> str:
    """What the conversation says, in a few bytes: who said what, in order."""
    h = hashlib.sha256()
    for message in conversation.messages:
        h.update(orjson.dumps([message.role, message.content]))
    return h.hexdigest()


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
# What chatgpt-web stores (Chanzhaoyu/chatgpt-web: src/typings/chat.d.ts, src/store/modules/chat):
# a history entry's `uuid` is `Date.now()` when the chat was made (milliseconds, UTC; the chat of
# a fresh install is `1002`, no time at all); a message's `dateTime` is
# `new Date().toLocaleString()`: the browser's local time, with no zone, written the way the
# browser's language writes it ("2023/3/9 20:15:32" in Chinese, "3/9/2023, 8:15:32 PM" in US
# English, "09/03/2023, 20:15:32" in British English, "9.3.2023, 20:15:32" in German,
# "2023. 3. 9. 오후 8:15:32" in Korean, "2023/3/9 下午8:15:32" in Traditional Chinese). An answer's
# time is when it finished streaming. The history lists the newest chat first.
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


# A uuid is a creation time when it falls between ChatGPT's launch and tomorrow.
_WEB_FIRST_DAY = datetime(2022, 11, 30, tzinfo=UTC)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_DOTTED_CLOCK = re.compile(r"(\d{1,2})\.(\d{2})\.(\d{2})\s*$")  # Indonesian, Danish: 20.15.32
_NUMBER = re.compile(r"\d+")
# The words toLocaleString() writes beside a 12-hour time (letters only, lower case).
_PM = frozenset({"pm", "下午", "晚上", "中午", "오후", "午後", "م", "ch", "μμ"})
_AM = frozenset({"am", "上午", "凌晨", "早上", "오전", "午前", "ص", "sa", "πμ"})
_DATE_WORDS = str.maketrans("", "", "年月日")
# A first message sent this soon after its chat was made tells the browser's UTC offset.
_SENT_WITHIN = 5 * 60
_QUARTER_HOUR = 15 * 60


def _wall(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    """A wall-clock time with no zone yet (chatgpt-web's are the browser's, unnamed)."""
    return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001


@dataclass
class _WebTime:
    """One `dateTime` as far as it can be read alone. "3/9/2023" is March 9 in the US and 3
    September nearly everywhere else: such a date keeps `first`, `second` and `year` until the
    file tells the order; any other date is `local` already."""

    local: datetime | None = None
    first: int = 0
    second: int = 0
    year: int = 0
    clock: tuple[int, int, int] = (0, 0, 0)
    # "AM"/"PM" in capitals: US English (month first); Australian and Indian English write
    # "am"/"pm" and put the day first.
    us_clock: bool = False

    @property
    def ambiguous(self) -> bool:
        return self.local is None and self.first <= 12 and self.second <= 12

    def resolved(self, month_first: bool) -> datetime | None:
        if self.local is not None:
            return self.local
        if self.first > 12 or (self.second <= 12 and not month_first):
            month, day = self.second, self.first
        else:
            month, day = self.first, self.second
        try:
            return _wall(self.year, month, day, *self.clock)
        except ValueError:
            return None


def _web_time(text: str) -> _WebTime | None:
    """What a `toLocaleString()` says, or None when the text is not one."""
    clock = _CLOCK.search(text) or _DOTTED_CLOCK.search(text)
    if clock is None or len(text) > 80:
        return None
    hour, minute, second = (int(g) if g else 0 for g in clock.groups())
    rest = text[: clock.start()] + " " + text[clock.end() :]
    letters = "".join(c for c in rest.translate(_DATE_WORDS) if c.isalpha())
    word = letters.lower()
    if word in _PM:
        hour = hour % 12 + 12
    elif word in _AM:
        hour %= 12
    elif word:
        return None
    numbers = _NUMBER.findall(rest)
    if len(numbers) != 3 or hour > 23 or minute > 59 or second > 59:
        return None
    a, b, c = (int(n) for n in numbers)
    try:
        if len(numbers[0]) == 4:  # year first: 2023/3/9, 2023. 3. 9., 2023-03-09
            return _WebTime(local=_wall(a, b, c, hour, minute, second))
        if len(numbers[2]) != 4:
            return None
        year = c - 543 if c > 2400 else c  # Thai years count from the Buddha
        if "/" not in rest:  # 9.3.2023, 9-3-2023: day first everywhere
            return _WebTime(local=_wall(year, b, a, hour, minute, second))
    except ValueError:
        return None
    if a > 12 and b > 12:
        return None
    return _WebTime(
        first=a, second=b, year=year, clock=(hour, minute, second), us_clock=letters in ("AM", "PM")
    )


def _web_created(uuid: int | str, now: datetime) -> datetime | None:
    """The creation time a history uuid is, when it is one."""
    try:
        millis = int(uuid)
    except (TypeError, ValueError):
        return None
    if not 0 < millis < 10**15:
        return None
    created = _from_epoch(millis / 1000)
    return created if created and _WEB_FIRST_DAY <= created <= now + timedelta(days=1) else None


def _month_first(times: list[_WebTime], pairs: list[tuple[_WebTime, datetime]]) -> bool:
    """Whether this file's slashed dates are month first: a day past 12 says so, and so does a
    chat whose first message reads close to its creation time one way and not the other. When
    nothing tells, "AM"/"PM" says US English (month first), anything else day first."""
    month = sum(t.second > 12 for t in times if t.year)
    day = sum(t.first > 12 for t in times if t.year)
    for when, created in pairs:
        if when.ambiguous and when.first != when.second:
            naive = created.replace(tzinfo=None)
            near = [
                (r is not None and abs(r - naive) <= timedelta(hours=15))
                for r in (when.resolved(True), when.resolved(False))
            ]
            month += near[0] and not near[1]
            day += near[1] and not near[0]
    if month != day:
        return month > day
    return any(t.us_clock for t in times if t.year)


def _web_zones(
    firsts: dict[str, tuple[datetime | None, datetime]], zone: tzinfo | None
) -> tuple[tzinfo, dict[str, tzinfo]]:
    """In which zone this file's local times were written: one for the file, and one for each
    chat that tells its own.

    A chat's uuid is its exact creation time and its first message usually follows within
    seconds, so (first message's local time − creation time) is the browser's UTC offset to the
    quarter hour. A chat's offset counts when another chat says the same, `zone` does, or (no
    zone given) most chats do: a first message sent half an hour late says little. Chats that
    tell nothing are read in `zone`, the importing browser's time zone (daylight saving time
    included), unless at least two chats, most of them, clearly say another offset; with no zone,
    in the offset most chats say, else in UTC."""
    told: dict[str, int] = {}
    agree: set[str] = set()
    for chat, (local, created) in firsts.items():
        if local is None:
            continue
        seconds = (local - created.replace(tzinfo=None)).total_seconds()
        quarter = round(seconds / _QUARTER_HOUR) * _QUARTER_HOUR
        if -1 <= seconds - quarter <= _SENT_WITHIN and abs(quarter) <= 14 * 3600:
            told[chat] = quarter
            shift = local.replace(tzinfo=zone).utcoffset() if zone is not None else None
            if shift is not None and shift.total_seconds() == quarter:
                agree.add(chat)
    votes = Counter(told.values())
    fallback: tzinfo = zone or UTC
    best: int | None = None
    if votes:
        offset, count = votes.most_common(1)[0]
        # Most chats say it; with a zone given, at least two and the zone disagreeing.
        if count * 2 > len(told) and (zone is None or (count >= 2 and len(agree) * 2 < len(told))):
            best = offset
            fallback = timezone(timedelta(seconds=offset))
    return fallback, {
        chat: timezone(timedelta(seconds=quarter))
        for chat, quarter in told.items()
        if votes[quarter] >= 2 or chat in agree or quarter == best
    }


def _parse_chatgpt_web(data: _WebExport, zone: tzinfo | None) -> Parsed:
    parsed = Parsed("chatgpt-web", [])
    now = datetime.now(UTC)
    chats: dict[str, _WebChat] = {}
    for each in data.chat:
        chats.setdefault(str(each.uuid), each)  # chatgpt-web reads the first of a uuid
    times = {id(item): _web_time(item.dateTime) for each in chats.values() for item in each.data}
    known = [t for t in times.values() if t is not None]
    created = {id(entry): _web_created(entry.uuid, now) for entry in data.history}
    firsts: dict[str, tuple[_WebTime, datetime]] = {}
    for entry in data.history:
        found = chats.get(str(entry.uuid))
        when = times.get(id(found.data[0])) if found and found.data else None
        made = created[id(entry)]
        if when is not None and made is not None:
            firsts.setdefault(str(entry.uuid), (when, made))
    month_first = _month_first(known, list(firsts.values()))
    fallback, zones = _web_zones(
        {chat: (w.resolved(month_first), c) for chat, (w, c) in firsts.items()}, zone
    )

    def utc_of(item: _WebItem, chat_zone: tzinfo) -> datetime | None:
        when = times.get(id(item))
        local = when.resolved(month_first) if when is not None else None
        return _utc(local.replace(tzinfo=chat_zone)) if local is not None else None

    seen: set[str] = set()
    for position, entry in enumerate(data.history):
        title = _clean(entry.title, MAX_TITLE) or "Imported chat"
        key = _source_key(entry.uuid)
        chat: _WebChat | None = chats.get(str(entry.uuid))
        made = created[id(entry)]
        if key is not None and key in seen:
            parsed.left_out.append(LeftOut(position, title, REPEATED, created_at=made))
            parsed.skipped.append(Skipped(f"conversation {title!r}", "repeated in the file"))
            continue
        if key is not None:
            seen.add(key)
        messages: list[ImportedMessage] = []
        empty = 0
        chat_zone = zones.get(str(entry.uuid), fallback)
        for index, item in enumerate(chat.data if chat else []):
            if not item.text and not item.error:
                parsed.skipped.append(Skipped(f"{title!r} message {index + 1}", "empty"))
                empty += 1
                continue
            messages.append(
                ImportedMessage(
                    key=str(index),
                    parent_key=messages[-1].key if messages else None,
                    role="user" if item.inversion else "assistant",
                    content=_clean(item.text, MAX_MESSAGE),
                    status="error" if item.error else "complete",
                    created_at=utc_of(item, chat_zone),
                    error=_clean(item.text, 500) if item.error else None,
                )
            )
        stamps = [m.created_at for m in messages if m.created_at]
        first = made or (min(stamps) if stamps else None)
        last = max([*stamps, *([first] if first else [])], default=None)
        if not messages:
            parsed.left_out.append(LeftOut(position, title, EMPTY, 0, first, last))
            if chat is None:
                parsed.skipped.append(Skipped(f"conversation {title!r}", "no messages in the file"))
            continue
        parsed.conversations.append(
            ImportedConversation(
                title=title,
                messages=messages,
                current_key=messages[-1].key,
                created_at=first,
                updated_at=last,
                position=position,
                source="chatgpt-web",
                key=key,
                notes={EMPTY_MESSAGES: empty} if empty else {},
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
    id: Any = None
    conversation_id: Any = None
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
    seen: set[str] = set()
    for position, conversation in enumerate(items):
        title = _clean(conversation.title or "", MAX_TITLE) or f"Imported chat {position + 1}"
        created_at = _from_epoch(conversation.create_time)
        # Exports have always carried the id; a file without one is told apart by its exact
        # creation time, which every export of the same conversation repeats.
        key = (
            _source_key(conversation.conversation_id)
            or _source_key(conversation.id)
            or (f"created:{conversation.create_time!r}" if created_at else None)
        )
        updated_at = _from_epoch(conversation.update_time)
        if key is not None and key in seen:
            parsed.left_out.append(LeftOut(position, title, REPEATED, 0, created_at, updated_at))
            parsed.skipped.append(Skipped(f"{title!r}", "repeated in the file"))
            continue
        if key is not None:
            seen.add(key)
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
            node_key = stack.pop()
            if node_key in visited:
                continue
            visited.add(node_key)
            order.append(node_key)
            stack.extend(
                reversed(
                    conversation.mapping[node_key].children
                    if node_key in conversation.mapping
                    else []
                )
            )
        attachments = 0
        for node_key in order:
            node = conversation.mapping.get(node_key)
            if node is None or node.message is None:
                continue
            role = node.message.author.role
            text, dropped = _node_text(node.message)
            if dropped:
                attachments += dropped
                parsed.skipped.append(
                    Skipped(f"{title!r}", f"{dropped} image or file part(s) left out (text only)")
                )
            if role not in ("user", "assistant") or not text.strip():
                continue  # system prompts, tool calls and empty nodes; their children re-attach
            kept[node_key] = ImportedMessage(
                key=node_key,
                parent_key=_nearest_kept(node.parent, conversation.mapping, kept),
                role=role,
                content=_clean(text, MAX_MESSAGE),
                model=node.message.metadata.model_slug if node.message.metadata else None,
                created_at=_from_epoch(node.message.create_time),
            )
        if not kept:
            parsed.left_out.append(LeftOut(position, title, EMPTY, 0, created_at, updated_at))
            parsed.skipped.append(Skipped(f"{title!r}", "no user or assistant messages"))
            continue
        current = (
            _nearest_kept(conversation.current_node, conversation.mapping, kept) or list(kept)[-1]
        )
        stamps = [m.created_at for m in kept.values() if m.created_at]
        parsed.conversations.append(
            ImportedConversation(
                title=title,
                messages=list(kept.values()),
                current_key=current,
                created_at=created_at or (min(stamps) if stamps else None),
                updated_at=updated_at or (max(stamps) if stamps else None),
                position=position,
                source="chatgpt",
                key=key,
                notes={ATTACHMENTS: attachments} if attachments else {},
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
    # The files a question carried (names and sizes only: the export holds no bytes).
    attachments: list[Any] = Field(default_factory=list)


class _OwnConversation(_Lenient):
    id: Any = None
    # Where a conversation that was itself imported came from (a ChatGate export says it).
    import_source: Any = None
    import_key: Any = None
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


def _own_source(conversation: _OwnConversation) -> tuple[str, str | None]:
    """The conversation's first source: where it was imported from, else the ChatGate
    conversation it is a copy of."""
    key = _source_key(conversation.import_key)
    if conversation.import_source in SOURCES and key is not None:
        return conversation.import_source, key
    return "chatgate", _source_key(conversation.id)


def _parse_own(data: _OwnExport) -> Parsed:
    parsed = Parsed("chatgate", [])
    seen: set[tuple[str, str]] = set()
    for position, conversation in enumerate(data.conversations):
        known: set[str] = set()
        for message in conversation.messages:
            if message.id in known:
                raise BadRequest(
                    f"The file is not a usable export: conversation {position + 1} "
                    f"({_clean(conversation.title, 60)!r}) has two messages with the id "
                    f"{_clean(message.id, 40)!r}."
                )
            known.add(message.id)
        title = _clean(conversation.title, MAX_TITLE) or "Imported chat"
        source, key = _own_source(conversation)
        if key is not None and (source, key) in seen:
            parsed.left_out.append(
                LeftOut(
                    position, title, REPEATED, 0, conversation.created_at, conversation.updated_at
                )
            )
            parsed.skipped.append(Skipped(f"{title!r}", "repeated in the file"))
            continue
        if key is not None:
            seen.add((source, key))
        messages = []
        other_roles = attachments = 0
        for message in conversation.messages:
            if message.attachments:
                attachments += len(message.attachments)
                parsed.skipped.append(
                    Skipped(
                        f"{conversation.title!r}",
                        f"{len(message.attachments)} attached file(s) left out (text only)",
                    )
                )
            if message.role not in ("user", "assistant"):
                other_roles += 1
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
        if not messages:
            parsed.left_out.append(
                LeftOut(position, title, EMPTY, 0, conversation.created_at, conversation.updated_at)
            )
            continue
        parsed.conversations.append(
            ImportedConversation(
                title=title,
                messages=messages,
                current_key=conversation.current_leaf_id
                if conversation.current_leaf_id in known
                else None,
                created_at=conversation.created_at,
                updated_at=conversation.updated_at,
                settings=conversation.settings,
                position=position,
                source=source,
                key=key,
                notes={
                    **({OTHER_ROLES: other_roles} if other_roles else {}),
                    **({ATTACHMENTS: attachments} if attachments else {}),
                },
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


_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")


def zone_named(name: str | None) -> tzinfo | None:
    """The IANA time zone of that name ("Europe/Berlin"), or None when there is no such zone
    here (no time zone data installed included): local times are then read without it."""
    if not name or len(name) > 64 or not _ZONE_NAME.match(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def parse(raw: bytes | bytearray | memoryview, zone: tzinfo | None = None) -> Parsed:
    """Detect the format and read it; a file that is none of them is a clear 400. `zone` is the
    time zone chatgpt-web's local times are read in when the file itself does not tell."""
    try:
        data = _unwrap(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The file is not valid JSON (it may be truncated): {exc}.") from exc
    parsed: Parsed | None = None
    try:
        if isinstance(data, dict) and data.get("format") == "chatgate":
            parsed = _parse_own(_OwnExport.model_validate(data))
        elif isinstance(data, dict) and "history" in data and "chat" in data:
            parsed = _parse_chatgpt_web(_WebExport.model_validate(data), zone)
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
        conversation.digest = _digest(conversation)
    return parsed
