"""Read-only share links: a snapshot of the current branch at an unguessable URL (128 random
bits), revocable by its owner, showing only that conversation and, of its owner, only the
profile they chose to show (display name, description, avatar)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import Share
from chatgate.db.repos import attachments as attachments_repo
from chatgate.db.repos import conversations as repo
from chatgate.errors import Forbidden, NotFound
from chatgate.ids import utcnow
from chatgate.security.secrets import TokenHasher
from chatgate.services.attachments.store import listed
from chatgate.services.conversations import branch_of, load_conversation
from chatgate.services.profiles import Profiles
from chatgate.services.site_settings import SiteSettings

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True, slots=True)
class ShareInfo:
    """A link as its owner sees it: never its token's hash, nor the snapshot it shows."""

    id: str
    title: str
    created_at: datetime

    @classmethod
    def of(cls, share: Share) -> ShareInfo:
        return cls(share.id, share.title, share.created_at)


class Shares:
    def __init__(self, db: Database, hasher: TokenHasher, site_settings: SiteSettings) -> None:
        self._db = db
        self._hasher = hasher
        self._site_settings = site_settings

    def _hash(self, token: str) -> str:
        return self._hasher.hash(token, purpose="share")

    async def create(self, user_id: str, conversation_id: str) -> tuple[ShareInfo, str]:
        """The new link, and its token (shown once: only its hash is kept)."""
        if not self._site_settings.sharing:
            raise Forbidden("The administrator has turned sharing off.")
        token = secrets.token_urlsafe(16)  # 128 bits
        conversation, messages = await self._db.read(
            lambda s: load_conversation(s, user_id, conversation_id)
        )
        branch = branch_of(messages, conversation.current_leaf_id)
        files = await self._db.read(
            lambda s: attachments_repo.listed_by_conversation(s, [conversation_id])
        )
        snapshot: dict[str, Any] = {
            "title": conversation.title,
            "messages": [
                {
                    "role": m.role,
                    "content": m.content,
                    "model": m.model,
                    "created_at": m.created_at.isoformat(),
                    "attachments": [listed(f) for f in files.get(m.id, [])],
                    "parts": m.parts or [],  # an answer's tool calls, shown folded
                }
                for m in branch
                if m.role in ("user", "assistant")
            ],
        }
        share = Share(
            token_hash=self._hash(token),
            user_id=user_id,
            conversation_id=conversation_id,
            title=conversation.title,
            snapshot=snapshot,
        )

        def save(s: DbSession) -> ShareInfo:
            return ShareInfo.of(repo.add_share(s, share))

        return await self._db.write(save), token

    async def list(self, user_id: str, conversation_id: str) -> Sequence[ShareInfo]:
        def read(s: DbSession) -> Sequence[ShareInfo]:
            if repo.get_conversation(s, user_id, conversation_id) is None:
                raise NotFound("Conversation not found.")
            return [ShareInfo.of(x) for x in repo.list_shares(s, user_id, conversation_id)]

        return await self._db.read(read)

    async def revoke(self, user_id: str, share_id: str) -> None:
        def revoke(s: DbSession) -> None:
            if not repo.revoke_share(s, user_id, share_id, utcnow()):
                raise NotFound("No such share link.")

        await self._db.write(revoke)

    async def _live(self, token: str) -> Share:
        """The link's share; a revoked link, or sharing turned off, is simply not found."""
        if not self._site_settings.sharing or not TOKEN.match(token):
            raise NotFound("This shared conversation does not exist.")
        share = await self._db.read(lambda s: repo.get_share_by_token(s, self._hash(token)))
        if share is None:
            raise NotFound("This shared conversation does not exist.")
        return share

    async def open(self, token: str) -> dict[str, Any]:
        """What a visitor sees: the snapshot, and the author's profile as it is now (its name,
        description and avatar; never the username), or null when they set none."""
        share = await self._live(token)
        profile = await Profiles(self._db).get(share.user_id)
        author = None
        if not profile.is_empty:
            author = {
                "display_name": profile.display_name,
                "description": profile.description,
                "avatar_emoji": profile.avatar_emoji,
                "avatar_url": f"/api/shared/{token}/avatar?v={profile.version}"
                if profile.has_image
                else None,
            }
        return {
            "title": share.snapshot.get("title", ""),
            "shared_at": share.created_at.isoformat(),
            "messages": share.snapshot.get("messages", []),
            "author": author,
        }

    async def attachment(self, token: str, attachment_id: str) -> str:
        """The conversation of a live link whose snapshot shows this file (else NotFound)."""
        share = await self._live(token)
        for message in share.snapshot.get("messages", []):
            if any(f.get("id") == attachment_id for f in message.get("attachments", [])):
                return share.conversation_id
        raise NotFound("File not found.")

    async def owner(self, token: str) -> str:
        """Whose conversation a live link shows."""
        return (await self._live(token)).user_id
