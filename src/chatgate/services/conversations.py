"""Conversations: listing, settings, and the message tree."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import Conversation, Message
from chatgate.db.repos import conversation_reads as reads
from chatgate.db.repos import conversations as repo
from chatgate.db.repos.conversation_reads import Row
from chatgate.errors import BadRequest, NotFound

DEFAULT_TITLE = "New chat"
# Times a cursor may carry (no row is outside: imports keep to 1970..2999 as well).
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(3000, 1, 1, tzinfo=UTC)
TITLE_MAX = 200


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    """Per-conversation choices; None means "the server default"."""

    model: str | None = None
    system_prompt: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    context_messages: int = 20
    context_tokens: int | None = None

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> ConversationSettings:
        known = {f.name for f in fields(cls)}
        # null resets a setting to its default (for the two that have a non-null one, too).
        required = {"system_prompt", "context_messages"}
        return cls(
            **{
                k: v
                for k, v in (raw or {}).items()
                if k in known and not (v is None and k in required)
            }
        )

    def merged(self, changes: dict[str, Any]) -> ConversationSettings:
        return ConversationSettings.of({**asdict(self), **changes})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _same_named(view: type[Any], row: object) -> dict[str, Any]:
    """The row's attributes that the view has fields of."""
    return {f.name: getattr(row, f.name) for f in fields(view)}


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation as its owner sees it (what the API sends)."""

    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    current_leaf_id: str | None
    settings: ConversationSettings

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationView:
        settings = ConversationSettings.of(conversation.settings)
        return cls(**{**_same_named(cls, conversation), "settings": settings})


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as its conversation's owner sees it (what the API sends)."""

    id: str
    parent_id: str | None
    role: str
    content: str
    reasoning: str
    status: str
    model: str | None
    error_code: str | None
    error_message: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime
    updated_at: datetime
    parts: list[dict[str, Any]]

    @classmethod
    def of(cls, message: Message) -> MessageView:
        # Sent as "" and [] where the row holds NULL.
        defaults = {"reasoning": message.reasoning or "", "parts": message.parts or []}
        return cls(**{**_same_named(cls, message), **defaults})


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[ConversationView]
    next_cursor: str | None


class _Listed(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def updated_at(self) -> datetime: ...


class _Node(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def parent_id(self) -> str | None: ...


L = TypeVar("L", bound=_Listed)
N = TypeVar("N", bound=_Node)
T = TypeVar("T")
# Turn rows into the response where they were read (the reader thread), so the event loop is
# handed finished bytes: callers pass the renderer in (services.conversation_json's, for the API).
RenderPage = Callable[[Sequence[Row], str | None], T]
RenderOne = Callable[[Row], T]
# The branch's rows, the current leaf, and the attached files (repo rows) by message id.
RenderMessages = Callable[[Sequence[Row], str | None, Mapping[str, list[Row]]], T]


def _split_page(rows: Sequence[L], limit: int) -> tuple[Sequence[L], str | None]:
    """Rows read with limit + 1: the page, and the cursor of the next one if there is one."""
    items = rows[:limit]
    if len(rows) <= limit:
        return items, None
    return items, encode_cursor(items[-1].updated_at, items[-1].id)


def encode_cursor(updated_at: datetime, conversation_id: str) -> str:
    raw = f"{updated_at.isoformat()}|{conversation_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_CURSOR_ID = re.compile(r"^[0-9a-f]{32}$")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Only what encode_cursor makes: a UTC time ChatGate could have written and a row id."""
    invalid = BadRequest("The cursor is not valid; start again from the first page.")
    if not _CURSOR.match(cursor):
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, conversation_id = raw.split("|", 1)
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None or when.utcoffset() != timedelta(0):
            raise ValueError("not UTC")
        when = when.astimezone(UTC)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not (_EARLIEST <= when < _LATEST) or not _CURSOR_ID.match(conversation_id):
        raise invalid
    return when, conversation_id


def branch_of(messages: Sequence[N], leaf_id: str | None) -> list[N]:
    """The path from the root to `leaf_id`, oldest first."""
    by_id = {m.id: m for m in messages}
    path: list[N] = []
    current = by_id.get(leaf_id) if leaf_id else None
    seen: set[str] = set()
    while current is not None and current.id not in seen:
        seen.add(current.id)
        path.append(current)
        current = by_id.get(current.parent_id) if current.parent_id else None
    path.reverse()
    return path


def load_conversation(
    s: DbSession, user_id: str, conversation_id: str
) -> tuple[Conversation, list[Message]]:
    """A conversation of this user and all its messages (one read)."""
    conversation = repo.get_conversation(s, user_id, conversation_id)
    if conversation is None:
        raise NotFound("Conversation not found.")
    return conversation, list(repo.list_messages(s, conversation_id))


class Conversations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(
        self, user_id: str, *, limit: int, cursor: str | None, query: str | None
    ) -> Page:
        before = decode_cursor(cursor) if cursor else None
        rows = await self._db.read(
            lambda s: repo.list_conversations(
                s, user_id, limit=limit + 1, before=before, title_query=query
            )
        )
        items, next_cursor = _split_page(rows, limit)
        return Page([ConversationView.of(c) for c in items], next_cursor)

    async def read_page(
        self,
        user_id: str,
        *,
        limit: int,
        cursor: str | None,
        query: str | None,
        render: RenderPage[T],
    ) -> T:
        """`page`, as plain rows rendered in the reader thread."""
        before = decode_cursor(cursor) if cursor else None

        def read(s: DbSession) -> T:
            rows = reads.conversation_page(
                s, user_id, limit=limit + 1, before=before, title_query=query
            )
            return render(*_split_page(rows, limit))

        return await self._db.read(read)

    async def read_one(self, user_id: str, conversation_id: str, render: RenderOne[T]) -> T:
        """`get`, as a plain row rendered in the reader thread."""

        def read(s: DbSession) -> T:
            row = reads.conversation(s, user_id, conversation_id)
            if row is None:
                raise NotFound("Conversation not found.")
            return render(row)

        return await self._db.read(read)

    async def create(
        self, user_id: str, *, title: str | None, settings: dict[str, Any] | None
    ) -> ConversationView:
        conversation = Conversation(
            user_id=user_id,
            title=(title or "").strip()[:TITLE_MAX] or DEFAULT_TITLE,
            settings=ConversationSettings.of(settings).as_dict(),
        )

        def create(s: DbSession) -> Conversation:
            return repo.add_conversation(s, conversation)

        return ConversationView.of(await self._db.write(create))

    async def get(self, user_id: str, conversation_id: str) -> ConversationView:
        conversation = await self._db.read(
            lambda s: repo.get_conversation(s, user_id, conversation_id)
        )
        if conversation is None:
            raise NotFound("Conversation not found.")
        return ConversationView.of(conversation)

    async def update(
        self,
        user_id: str,
        conversation_id: str,
        *,
        title: str | None = None,
        settings: dict[str, Any] | None = None,
        current_leaf_id: str | None = None,
    ) -> ConversationView:
        def update(s: DbSession) -> Conversation:
            conversation = repo.get_conversation(s, user_id, conversation_id)
            if conversation is None:
                raise NotFound("Conversation not found.")
            if title is not None:
                conversation.title = title.strip()[:TITLE_MAX] or DEFAULT_TITLE
            if settings is not None:
                conversation.settings = (
                    ConversationSettings.of(conversation.settings).merged(settings).as_dict()
                )
            if current_leaf_id is not None:
                message = repo.get_message(s, user_id, current_leaf_id)
                if message is None or message.conversation_id != conversation_id:
                    raise NotFound("Message not found in this conversation.")
                conversation.current_leaf_id = current_leaf_id
            s.flush()
            return conversation

        return ConversationView.of(await self._db.write(update))

    async def delete(self, user_id: str, conversation_id: str) -> None:
        def delete(s: DbSession) -> None:
            if not repo.delete_conversation(s, user_id, conversation_id):
                raise NotFound("Conversation not found.")

        await self._db.write(delete)

    async def messages(
        self, user_id: str, conversation_id: str, *, leaf: str | None = None
    ) -> tuple[list[MessageView], str | None]:
        conversation, messages = await self._db.read(
            lambda s: load_conversation(s, user_id, conversation_id)
        )
        return [
            MessageView.of(m) for m in _only_branch(messages, leaf)
        ], conversation.current_leaf_id

    async def read_messages(
        self,
        user_id: str,
        conversation_id: str,
        *,
        leaf: str | None = None,
        render: RenderMessages[T],
    ) -> T:
        """`messages`, as plain rows (one statement) rendered in the reader thread."""

        def read(s: DbSession) -> T:
            found = reads.conversation_messages(s, user_id, conversation_id)
            if found is None:
                raise NotFound("Conversation not found.")
            current_leaf, rows, files = found
            return render(_only_branch(rows, leaf), current_leaf, files)

        return await self._db.read(read)


def _only_branch(messages: Sequence[N], leaf: str | None) -> Sequence[N]:
    """All messages, or only the branch ending at `leaf` (which must be one of them)."""
    if leaf is None:
        return messages
    if not any(m.id == leaf for m in messages):
        raise NotFound("Message not found in this conversation.")
    return branch_of(messages, leaf)
