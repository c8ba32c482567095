"""History in and out: imports in one transaction, exports as ChatGate JSON (lossless), Markdown
and a self-contained HTML page (everything escaped, no script)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session as DbSession

from chatgate.db.engine import Database
from chatgate.db.models import Conversation, Message
from chatgate.db.repos import conversations as repo
from chatgate.errors import NotFound
from chatgate.ids import new_id, utcnow
from chatgate.services.conversations import ConversationSettings, branch_of
from chatgate.services.importers import Parsed

EXPORT_FORMAT = "chatgate"
EXPORT_VERSION = 1


@dataclass
class ImportReport:
    format: str
    conversations: int = 0
    messages: int = 0
    conversation_ids: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def _settings(raw: dict[str, Any]) -> dict[str, Any]:
    """Imported settings are only kept when they are valid here; the rest fall back to defaults."""
    settings = ConversationSettings.of(raw)
    checks: dict[str, Callable[[Any], bool]] = {
        "temperature": lambda v: v is None or (isinstance(v, int | float) and 0 <= v <= 2),
        "top_p": lambda v: v is None or (isinstance(v, int | float) and 0 <= v <= 1),
        "max_tokens": lambda v: v is None or (isinstance(v, int) and v > 0),
        "context_messages": lambda v: isinstance(v, int) and v >= 0,
        "context_tokens": lambda v: v is None or (isinstance(v, int) and v > 0),
        "system_prompt": lambda v: isinstance(v, str),
        "model": lambda v: v is None or isinstance(v, str),
    }
    defaults = ConversationSettings()
    values = settings.as_dict()
    for key, check in checks.items():
        if not check(values[key]):
            values[key] = getattr(defaults, key)
    return values


class Transfer:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def import_parsed(self, user_id: str, parsed: Parsed) -> ImportReport:
        """All of it, or nothing: one transaction."""
        report = ImportReport(parsed.format, skipped=[vars(s) for s in parsed.skipped])
        now = utcnow()
        rows: list[tuple[Conversation, list[Message]]] = []
        for offset, item in enumerate(parsed.conversations):
            conversation_id = new_id()
            ids = {m.key: new_id() for m in item.messages}
            stamp = item.created_at or now
            messages = []
            previous = None
            for message in item.messages:
                created = message.created_at or stamp
                if previous is not None and created <= previous:
                    # Keep file order when timestamps are missing or equal (exact ones stay exact).
                    created = previous + timedelta(microseconds=1)
                previous = created
                messages.append(
                    Message(
                        id=ids[message.key],
                        conversation_id=conversation_id,
                        user_id=user_id,
                        parent_id=ids.get(message.parent_key) if message.parent_key else None,
                        role=message.role,
                        content=message.content,
                        status=message.status,
                        model=message.model,
                        error_code="imported_error" if message.error else None,
                        error_message=message.error,
                        created_at=created,
                        updated_at=created,
                        finished_at=created,
                    )
                )
            current = ids.get(item.current_key) if item.current_key else None
            conversation = Conversation(
                id=conversation_id,
                user_id=user_id,
                title=item.title,
                settings=_settings(item.settings),
                current_leaf_id=current or (messages[-1].id if messages else None),
                created_at=stamp,
                updated_at=(item.updated_at or stamp) - timedelta(microseconds=offset),
            )
            rows.append((conversation, messages))
            report.conversations += 1
            report.messages += len(messages)
            report.conversation_ids.append(conversation_id)

        def insert(s: DbSession) -> None:
            for conversation, messages in rows:
                s.add(conversation)
                s.add_all(messages)
            s.flush()

        if rows:
            await self._db.write(insert)
        return report

    # -- export -------------------------------------------------------------------------------
    async def _load(
        self, user_id: str, conversation_ids: Sequence[str] | None
    ) -> list[tuple[Conversation, list[Message]]]:
        def read(s: DbSession) -> list[tuple[Conversation, list[Message]]]:
            if conversation_ids is None:
                conversations: list[Conversation] = []
                cursor = None
                while True:
                    page = repo.list_conversations(s, user_id, limit=500, before=cursor)
                    conversations += page
                    if len(page) < 500:
                        break
                    cursor = (page[-1].updated_at, page[-1].id)
            else:
                found = [repo.get_conversation(s, user_id, cid) for cid in conversation_ids]
                if any(c is None for c in found):
                    raise NotFound("Conversation not found.")
                conversations = [c for c in found if c is not None]
            return [(c, list(repo.list_messages(s, c.id))) for c in conversations]

        return await self._db.read(read)

    async def export_json(
        self, user_id: str, conversation_ids: Sequence[str] | None = None
    ) -> dict[str, Any]:
        loaded = await self._load(user_id, conversation_ids)
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": utcnow().isoformat(),
            "conversations": [
                {
                    "id": c.id,
                    "title": c.title,
                    "created_at": c.created_at.isoformat(),
                    "updated_at": c.updated_at.isoformat(),
                    "settings": ConversationSettings.of(c.settings).as_dict(),
                    "current_leaf_id": c.current_leaf_id,
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
                        }
                        for m in messages
                    ],
                }
                for c, messages in loaded
            ],
        }

    async def export_markdown(
        self, user_id: str, conversation_ids: Sequence[str] | None = None
    ) -> str:
        parts = []
        for conversation, messages in await self._load(user_id, conversation_ids):
            branch = branch_of(messages, conversation.current_leaf_id)
            lines = [f"# {conversation.title}", ""]
            for message in branch:
                who = (
                    "**You**"
                    if message.role == "user"
                    else f"**Assistant**{f' ({message.model})' if message.model else ''}"
                )
                lines += [who, "", message.content, ""]
            parts.append("\n".join(lines))
        return "\n---\n\n".join(parts)

    async def export_html(self, user_id: str, conversation_ids: Sequence[str] | None = None) -> str:
        sections = []
        for conversation, messages in await self._load(user_id, conversation_ids):
            branch = branch_of(messages, conversation.current_leaf_id)
            turns = "".join(
                f'<div class="{m.role}"><div class="who">{"You" if m.role == "user" else "Assistant"}</div>'
                f"<pre>{html.escape(m.content)}</pre></div>"
                for m in branch
            )
            sections.append(f"<section><h1>{html.escape(conversation.title)}</h1>{turns}</section>")
        return HTML_PAGE.format(body="".join(sections))


# Self-contained and inert: all content escaped, no script, and a CSP that forbids any even if
# the file were served from a web server.
HTML_PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ChatGate export</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }}
section {{ margin-bottom: 3rem; }} h1 {{ font-size: 1.4rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }}
.who {{ font-weight: 600; margin-top: 1rem; }} .user pre {{ background: #eef6ff; }}
pre {{ white-space: pre-wrap; word-wrap: break-word; font-family: inherit; background: #f6f8fa; padding: .75rem; border-radius: 8px; }}
</style></head>
<body>{body}</body></html>
"""
