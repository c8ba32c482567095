"""History in and out: imports written in short batches, exports as ChatGate JSON (lossless),
Markdown and a self-contained HTML page (everything escaped, no script), produced a chunk at a
time.

An imported conversation keeps its original dates (so it sorts among old chats, not under
"Today") and remembers the id its source gave it: a conversation the person already imported is
skipped — "already imported", or "changed since it was imported" when its messages differ now
(delete the imported copy to import the new version; nothing is merged into a chat that may have
gone on here). The report says, conversation by conversation, what was imported, what was
skipped and why.

Nothing here that grows with the file runs on the event loop: rows are built in a worker thread
(`asyncio.to_thread`) a batch at a time, written a batch per short transaction (other users' writes
get their turn in between), and exports are read and rendered a few conversations at a time, each
step in a thread. An import is still all or nothing: when a batch fails, the conversations
already written are deleted again. Parsing a large file happens in its own process
(chatgate.services.import_worker), where the GIL cannot stall anyone.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.repos import attachments as attachments_repo
from chatgate.db.repos import transfer as rows_repo
from chatgate.errors import NotFound
from chatgate.ids import new_id, utcnow
from chatgate.services.attachments.store import listed
from chatgate.services.conversations import ConversationSettings, branch_of
from chatgate.services.import_runner import run_in_child
from chatgate.services.importers import MAX_MODEL, ImportedConversation, LeftOut, Parsed

EXPORT_FORMAT = "chatgate"
EXPORT_VERSION = 1
# Rows per write transaction: short enough that other writers wait milliseconds, not seconds.
BATCH_MESSAGES = 500
# Conversations read and rendered per export chunk.
EXPORT_PAGE = 25
# Large imports parsed at once by one server process (each holds about six times its file).
CHILD_IMPORTS = 1


# What became of one conversation of the file (besides importers.EMPTY and importers.REPEATED).
IMPORTED = "imported"
ALREADY_IMPORTED = "already_imported"
CHANGED_SINCE_IMPORT = "changed_since_import"
# A batch that met a concurrent import of the same conversations is tried again this often.
BATCH_ATTEMPTS = 3


@dataclass
class ImportReport:
    format: str
    conversations: int = 0  # imported
    messages: int = 0  # imported
    conversation_ids: list[str] = field(default_factory=list)
    # Details in English (the CLI prints them): what was left out, with where and why.
    skipped: list[dict[str, str]] = field(default_factory=list)
    # Conversations of the file by outcome, and each one in file order: title, outcome,
    # conversation_id (the new one, or the copy already here), messages, created_at,
    # updated_at, notes ({code: count} of what was left out of it).
    counts: dict[str, int] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def _number(low: float, high: float, *, integer: bool) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        kinds = (int,) if integer else (int, float)
        return isinstance(value, kinds) and not isinstance(value, bool) and low <= value <= high

    return check


def _text(limit: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and len(v) <= limit and "\x00" not in v


# The bounds of SettingsIn (chatgate.api.schemas): an import cannot set what the API refuses.
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "temperature": _number(0, 2, integer=False),
    "top_p": _number(0, 1, integer=False),
    "max_tokens": _number(1, 1_000_000, integer=True),
    "context_messages": _number(0, 10_000, integer=True),
    "context_tokens": _number(1, 10_000_000, integer=True),
    "system_prompt": _text(100_000),
    "model": _text(MAX_MODEL),
}
_NULLABLE = {"temperature", "top_p", "max_tokens", "context_tokens", "model"}


def _settings(raw: dict[str, Any], known_models: Collection[str] | None = None) -> dict[str, Any]:
    """Imported settings are only kept when they are valid here (a model this server does not
    offer included); the rest fall back to defaults."""
    settings = ConversationSettings.of(raw)
    defaults = ConversationSettings()
    values = settings.as_dict()
    for key, check in _CHECKS.items():
        value = values[key]
        if not ((value is None and key in _NULLABLE) or check(value)):
            values[key] = getattr(defaults, key)
    if (
        values["model"] is not None
        and known_models is not None
        and values["model"] not in known_models
    ):
        values["model"] = None
    return values


@dataclass
class _Planned:
    item: ImportedConversation
    conversation: dict[str, Any]
    messages: list[dict[str, Any]]


def _times(item: ImportedConversation, stamp: datetime) -> dict[str, datetime]:
    """Each message's time: its own (exact), else its parent's or the conversation's. A message
    is always later than its parent, and no two share an instant, so ordering by time keeps
    the tree and the file's order."""
    times: dict[str, datetime] = {}
    used: set[datetime] = set()
    step = timedelta(microseconds=1)
    for message in item.messages:
        parent = times.get(message.parent_key) if message.parent_key is not None else None
        created = message.created_at or (parent + step if parent else stamp)
        if parent is not None and created <= parent:
            created = parent + step
        while created in used:
            created += step
        used.add(created)
        times[message.key] = created
    return times


def _rows(
    user_id: str,
    items: Sequence[tuple[int, ImportedConversation]],
    now: datetime,
    known_models: Collection[str] | None,
) -> list[_Planned]:
    """Row values for a batch of conversations (in a worker thread)."""
    planned: list[_Planned] = []
    for offset, item in items:
        conversation_id = new_id()
        ids = {m.key: new_id() for m in item.messages}
        # Without any date of its own, the conversation is as new as the import; the file's
        # order (newest first) is kept.
        undated = now - timedelta(microseconds=offset)
        times = _times(item, item.created_at or item.updated_at or undated)
        ordered = sorted(times.values())
        messages: list[dict[str, Any]] = []
        last_id: str | None = None
        for message in item.messages:
            created = times[message.key]
            last_id = ids[message.key]
            messages.append(
                {
                    "id": last_id,
                    "conversation_id": conversation_id,
                    "user_id": user_id,
                    "parent_id": ids.get(message.parent_key) if message.parent_key else None,
                    "role": message.role,
                    "content": message.content,
                    "reasoning": "",
                    "status": message.status,
                    "model": message.model,
                    "error_code": "imported_error" if message.error else None,
                    "error_message": message.error,
                    "created_at": created,
                    "updated_at": created,
                    "finished_at": created,
                }
            )
        current = ids.get(item.current_key) if item.current_key else None
        created_at = item.created_at or (ordered[0] if ordered else undated)
        planned.append(
            _Planned(
                item,
                {
                    "id": conversation_id,
                    "user_id": user_id,
                    "title": item.title,
                    "settings": _settings(item.settings, known_models),
                    "current_leaf_id": current or last_id,
                    "created_at": created_at,
                    "updated_at": item.updated_at or (ordered[-1] if ordered else created_at),
                    "import_source": item.source if item.key is not None else None,
                    "import_key": item.key,
                    "import_digest": item.digest if item.key is not None else None,
                },
                messages,
            )
        )
    return planned


def _batches(
    conversations: Sequence[ImportedConversation],
) -> Iterator[list[tuple[int, ImportedConversation]]]:
    batch: list[tuple[int, ImportedConversation]] = []
    size = 0
    for offset, item in enumerate(conversations):
        batch.append((offset, item))
        size += len(item.messages) + 1
        if size >= BATCH_MESSAGES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _source(item: ImportedConversation) -> tuple[str, str] | None:
    return (item.source, item.key) if item.source and item.key else None


def _insert_new(
    s: Any, *, user_id: str, planned: Sequence[_Planned]
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """In one write: those of `planned` the user does not have yet (checked again here, where a
    concurrent import of the same file is seen); the others, found, are returned."""
    sources = [key for p in planned if (key := _source(p.item)) is not None]
    found = rows_repo.already_imported(s, user_id, sources) if sources else {}
    fresh = [p for p in planned if _source(p.item) not in found]
    rows_repo.insert(s, c=[p.conversation for p in fresh], m=[m for p in fresh for m in p.messages])
    return found


def _outcome(
    item: ImportedConversation | LeftOut,
    outcome: str,
    conversation_id: str | None,
    messages: int,
) -> dict[str, Any]:
    """One line of the report (see ImportReport.outcomes)."""
    return {
        "title": item.title,
        "outcome": outcome,
        "conversation_id": conversation_id,
        "messages": messages,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "notes": item.notes if isinstance(item, ImportedConversation) else {},
    }


class Transfer:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._child_imports: asyncio.Semaphore | None = None

    async def import_file(
        self,
        user_id: str,
        path: Path,
        *,
        known_models: Collection[str] | None = None,
        time_zone: str | None = None,
    ) -> ImportReport:
        """A large file, parsed and written by a child process; one at a time (the others wait
        their turn), so memory stays bounded by one file however many people import at once."""
        if self._child_imports is None:
            self._child_imports = asyncio.Semaphore(CHILD_IMPORTS)
        async with self._child_imports:
            report = await run_in_child(self._db.url, user_id, path, known_models, time_zone)
        return ImportReport(**report)

    async def import_parsed(
        self, user_id: str, parsed: Parsed, *, known_models: Collection[str] | None = None
    ) -> ImportReport:
        """All of it, or nothing: written in short transactions, undone if one of them fails.
        Conversations the person already imported from the same source are skipped."""
        report = ImportReport(parsed.format, skipped=[vars(s) for s in parsed.skipped])
        outcomes: list[tuple[int, dict[str, Any]]] = [
            (left.position, _outcome(left, left.reason, None, left.messages))
            for left in parsed.left_out
        ]
        now = utcnow()
        written: list[str] = []
        try:
            for batch in _batches(parsed.conversations):
                sources = [key for _, item in batch if (key := _source(item)) is not None]
                found = (
                    await self._db.read(
                        partial(rows_repo.already_imported, user_id=user_id, sources=sources)
                    )
                    if sources
                    else {}
                )
                fresh = [(o, item) for o, item in batch if _source(item) not in found]
                planned = await asyncio.to_thread(_rows, user_id, fresh, now, known_models)
                for attempt in range(BATCH_ATTEMPTS):
                    try:
                        found |= await self._db.write(
                            partial(_insert_new, user_id=user_id, planned=planned)
                        )
                        break
                    except IntegrityError:
                        # Someone (a second tab) imported some of these at the same moment.
                        if attempt == BATCH_ATTEMPTS - 1:
                            raise
                for p in planned:
                    if _source(p.item) not in found:
                        written.append(p.conversation["id"])
                        report.conversations += 1
                        report.messages += len(p.messages)
                        outcomes.append(
                            (
                                p.item.position,
                                _outcome(p.item, IMPORTED, p.conversation["id"], len(p.messages)),
                            )
                        )
                for _, item in batch:
                    key = _source(item)
                    if key is None or key not in found:
                        continue
                    existing, digest = found[key]
                    changed = digest is not None and digest != item.digest
                    outcome = CHANGED_SINCE_IMPORT if changed else ALREADY_IMPORTED
                    outcomes.append(
                        (item.position, _outcome(item, outcome, existing, len(item.messages)))
                    )
        except BaseException:
            if written:
                await asyncio.shield(
                    self._db.write(lambda s: rows_repo.delete(s, user_id, written))
                )
            raise
        report.conversation_ids = written
        outcomes.sort(key=lambda pair: pair[0])
        report.outcomes = [entry for _, entry in outcomes]
        for entry in report.outcomes:
            report.counts[entry["outcome"]] = report.counts.get(entry["outcome"], 0) + 1
        return report

    # -- export -------------------------------------------------------------------------------
    async def export_ids(self, user_id: str, conversation_ids: Sequence[str] | None) -> list[str]:
        """What an export will hold, checked before the first byte is sent (404 for another
        user's or an unknown conversation)."""
        wanted = list(dict.fromkeys(conversation_ids)) if conversation_ids is not None else None
        ids = await self._db.read(lambda s: rows_repo.conversation_ids(s, user_id, wanted))
        if wanted is not None and len(ids) != len(wanted):
            raise NotFound("Conversation not found.")
        return ids

    async def _pages(
        self,
        user_id: str,
        ids: Sequence[str],
        render: Callable[[Page], bytes],
        *,
        images: bool = False,
    ) -> AsyncIterator[bytes]:
        for start in range(0, len(ids), EXPORT_PAGE):
            page = ids[start : start + EXPORT_PAGE]
            loaded = await self._db.read(
                partial(_load_page, user_id=user_id, ids=page, with_images=images)
            )
            yield await asyncio.to_thread(render, loaded)

    async def export_json(self, user_id: str, ids: Sequence[str]) -> AsyncIterator[bytes]:
        head = orjson.dumps(
            {
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSION,
                "exported_at": utcnow().isoformat(),
            }
        )
        yield head[:-1] + b',\n"conversations": ['
        first = True
        async for chunk in self._pages(user_id, ids, _json_chunk):
            if chunk:
                yield chunk if first else b",\n" + chunk
                first = False
        yield b"\n]}\n"

    async def export_markdown(self, user_id: str, ids: Sequence[str]) -> AsyncIterator[bytes]:
        first = True
        async for chunk in self._pages(user_id, ids, _markdown_chunk):
            if chunk:
                yield chunk if first else b"\n---\n\n" + chunk
                first = False

    async def export_html(
        self, user_id: str, ids: Sequence[str], lang: str | None = None
    ) -> AsyncIterator[bytes]:
        """Every conversation rendered as on screen (`export_page`), in the person's language."""
        # Imported on first use, in a thread so the streams go on meanwhile: its Markdown,
        # highlighting and math libraries are ~3 MB that a server which never exports as HTML
        # should not hold.
        await asyncio.to_thread(importlib.import_module, "chatgate.services.export_page")
        from chatgate.services import export_page

        language = export_page.page_language(lang)
        labels = export_page.LABELS[language]
        title = "ChatGate export" if len(ids) != 1 else "ChatGate conversation"
        yield export_page.page_head(language, title).encode()

        def render(page: Page) -> bytes:
            return "".join(
                export_page.conversation_section(
                    conversation,
                    branch_of(messages, conversation.current_leaf_id),
                    labels,
                    page.files,
                    page.images,
                )
                for conversation, messages in page.conversations
            ).encode()

        async for chunk in self._pages(user_id, ids, render, images=True):
            yield chunk
        yield export_page.PAGE_TAIL.encode()


@dataclass
class Page:
    """Conversations with their messages, and their files: listed (no bytes) by message id,
    and for the HTML page the images' bytes by file id."""

    conversations: list[tuple[Any, list[Any]]]
    files: dict[str, list[Any]]
    images: dict[str, bytes]


def _load_page(s: DbSession, user_id: str, ids: Sequence[str], with_images: bool) -> Page:
    loaded = rows_repo.load(s, user_id=user_id, ids=ids)
    found = [c.id for c, _ in loaded]
    files = attachments_repo.listed_by_conversation(s, found) if found else {}
    images = attachments_repo.data_by_conversation(s, found) if with_images and files else {}
    return Page(loaded, files, images)


def _conversation_json(
    c: Any, messages: list[Any], files: dict[str, list[Any]] | None = None
) -> dict[str, Any]:
    files = files or {}
    return {
        "id": c.id,
        "title": c.title,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
        "settings": ConversationSettings.of(c.settings).as_dict(),
        "current_leaf_id": c.current_leaf_id,
        # Where it was imported from: importing this export, or the original file, somewhere
        # that already has it adds nothing.
        "import_source": c.import_source,
        "import_key": c.import_key,
        "messages": [
            {
                "id": m.id,
                "parent_id": m.parent_id,
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "model": m.model,
                "created_at": m.created_at.isoformat(),
                "prompt_tokens": m.prompt_tokens,
                "completion_tokens": m.completion_tokens,
                "attachments": [listed(f) for f in files.get(m.id, ())],
            }
            for m in messages
        ],
    }


def _json_chunk(page: Page) -> bytes:
    return b",\n".join(
        orjson.dumps(_conversation_json(c, messages, page.files), option=orjson.OPT_INDENT_2)
        for c, messages in page.conversations
    )


def _markdown_chunk(page: Page) -> bytes:
    parts = []
    for conversation, messages in page.conversations:
        lines = [f"# {conversation.title}", ""]
        for message in branch_of(messages, conversation.current_leaf_id):
            who = (
                "**You**"
                if message.role == "user"
                else f"**Assistant**{f' ({message.model})' if message.model else ''}"
            )
            lines += [who, ""]
            attached = page.files.get(message.id, ())
            if attached:
                names = ", ".join("`" + f.name.replace("`", "'") + "`" for f in attached)
                lines += [f"*Attached: {names}*", ""]
            lines += [message.content, ""]
        parts.append("\n".join(lines))
    return "\n---\n\n".join(parts).encode()
