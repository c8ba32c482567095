"""Attachments from upload to deletion: an upload is sniffed, made safe (images re-encoded,
documents extracted to text, off the event loop), stored once per owner and content, within the
owner's storage quota; it waits for its question, is linked to it when sent (chat.send), is
served to its owner and to viewers of a live share link of its conversation, and goes with its
message. Uploads never sent are swept after a day."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session as DbSession

from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.db.models import Attachment
from chatgate.db.repos import attachments as repo
from chatgate.errors import AttachmentTooLarge, NotFound
from chatgate.ids import utcnow
from chatgate.services import tokens
from chatgate.services.attachments import documents, images
from chatgate.services.attachments.sniff import Sniffed, sniff

log = structlog.get_logger(__name__)
UNSENT_LIFETIME = timedelta(hours=24)
SWEEP_EVERY = 3600.0  # seconds
NAME_MAX = 200
# Files decoded or read at once per process: a large image decodes to hundreds of MB, a hostile
# PDF can take seconds of CPU; more uploads wait their turn rather than exhaust the machine.
CONCURRENT_WORK = 2
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def clean_name(name: str | None) -> str:
    """The file name as given, without any path, control characters, or more than 200 chars."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _UNSAFE_NAME.sub("", base).strip().strip(".") or "file"
    if len(base) > NAME_MAX:
        _stem, dot, extension = base.rpartition(".")
        keep = extension if dot and len(extension) <= 16 else ""
        base = base[: NAME_MAX - len(keep) - 1] + ("." + keep if keep else "")
        base = base[:NAME_MAX]
    return base


def listed(row: Any) -> dict[str, Any]:
    """AttachmentOut of a stored row (or a row of repo.LISTED)."""
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "media_type": row.media_type,
        "size": row.size,
        "width": row.width,
        "height": row.height,
        "tokens": row.tokens,
        "note": row.note,
    }


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """An upload as its owner sees it (AttachmentOut): never its bytes or extracted text."""

    id: str
    name: str
    kind: str
    media_type: str
    size: int
    width: int | None
    height: int | None
    tokens: int | None
    note: str | None

    @classmethod
    def of(cls, attachment: Attachment) -> AttachmentInfo:
        return cls(**listed(attachment))


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file's bytes as they are served, with the name and type they are served under."""

    name: str
    media_type: str
    data: bytes

    @classmethod
    def of(cls, found: Attachment | None) -> StoredFile:
        if found is None:
            raise NotFound("File not found.")
        return cls(name=found.name, media_type=found.media_type, data=found.data)


def _prepare(data: bytes, name: str, sha256: str, user_id: str) -> Attachment:
    """Blocking: sniff, re-encode or extract (a worker thread)."""
    found: Sniffed = sniff(data, name)
    attachment = Attachment(user_id=user_id, name=name, kind=found.kind, sha256=sha256)
    if found.kind == "image":
        image = images.reencode(data, found.media_type)
        attachment.data, attachment.media_type = image.data, image.media_type
        attachment.width, attachment.height = image.width, image.height
    else:
        extracted = documents.extract(data, found.media_type, found.text)
        attachment.data, attachment.media_type = data, found.media_type
        attachment.text, attachment.tokens, attachment.note = (
            extracted.text,
            extracted.tokens,
            extracted.note,
        )
    attachment.size = len(attachment.data)
    return attachment


class Attachments:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._work = asyncio.Semaphore(CONCURRENT_WORK)

    async def upload(self, user_id: str, name: str | None, data: bytes) -> AttachmentInfo:
        limit = self._settings.attachment_max_bytes
        if len(data) > limit:
            raise AttachmentTooLarge(f"A file may be at most {limit / 1048576:g} MiB.")
        filename = clean_name(name)
        sha256 = hashlib.sha256(data).hexdigest()

        def uploaded_before(s: DbSession) -> AttachmentInfo | None:
            existing = repo.unsent_by_hash(s, user_id, sha256)
            return None if existing is None else AttachmentInfo.of(existing)

        existing = await self._db.read(uploaded_before)
        if existing is not None:
            return existing
        await tokens.ready()  # documents are counted while extracted
        async with self._work:
            attachment = await asyncio.to_thread(_prepare, data, filename, sha256, user_id)
        quota = self._settings.attachment_quota_bytes

        def store(s: DbSession) -> AttachmentInfo:
            return AttachmentInfo.of(repo.add_within_quota(s, attachment, quota))

        return await self._db.write(store)

    async def delete_unsent(self, user_id: str, attachment_id: str) -> None:
        def delete(s: DbSession) -> None:
            if not repo.delete_unsent(s, user_id, attachment_id):
                raise NotFound("No such file waiting to be sent.")

        await self._db.write(delete)

    async def own(self, user_id: str, attachment_id: str) -> StoredFile:
        found = await self._db.read(lambda s: repo.owned(s, user_id, attachment_id))
        return StoredFile.of(found)

    async def in_conversation(self, conversation_id: str, attachment_id: str) -> StoredFile:
        found = await self._db.read(
            lambda s: repo.in_conversation(s, conversation_id, attachment_id)
        )
        return StoredFile.of(found)

    async def sweep(self) -> int:
        before = utcnow() - UNSENT_LIFETIME
        return await self._db.write(lambda s: repo.sweep_unsent(s, before))

    async def sweep_forever(self) -> None:
        """Delete unsent uploads older than a day, every hour (every instance: the delete is
        idempotent)."""
        while True:
            try:
                swept = await self.sweep()
                if swept:
                    log.info("attachments.swept", unsent=swept)
            except Exception:  # the next round tries again
                log.exception("attachments.sweep_failed")
            await asyncio.sleep(SWEEP_EVERY)
