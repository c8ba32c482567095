"""From a conversation to a generation job: which branch, which model, what context.

`send` asks a new question (after the current leaf, after a chosen answer — edit and resend — or
as a new first question), `regenerate` answers a question again as a sibling, `continue_` carries
on a cut-off answer in place. `complete` serves API clients (`/v1`), with no conversation stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.config import ProviderKind
from chatgate.db.engine import Database
from chatgate.db.models import LIVE_STATUSES, Attachment, Conversation, Message
from chatgate.db.repos import attachments as attachments_repo
from chatgate.errors import BadRequest, Conflict, ModelCannotSee, NotFound
from chatgate.providers import surface
from chatgate.providers.base import ChatMessage, ChatRequest
from chatgate.providers.registry import Registry
from chatgate.providers.surface import NO_OPTIONS, Options
from chatgate.services import context as context_builder
from chatgate.services import tokens
from chatgate.services.conversations import (
    DEFAULT_TITLE,
    ConversationSettings,
    branch_of,
    load_conversation,
)
from chatgate.services.generations import Generations, Job
from chatgate.services.generations.rows import new_question
from chatgate.services.live import LiveGeneration
from chatgate.services.site_settings import SiteSettings

TITLE_LENGTH = 60
STILL_WRITING = "This answer is still being written; wait for it to finish, or stop it first."


def _move_status(s: DbSession, message_id: str, from_status: str, to_status: str) -> bool:
    """Set the message's status if it still is `from_status`; whether it was."""
    result = s.execute(
        sa.update(Message)
        .where(Message.id == message_id, Message.status == from_status)
        .values(status=to_status)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def auto_title(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _file(row: Attachment) -> context_builder.File:
    return context_builder.File(
        name=row.name,
        kind=row.kind,
        media_type=row.media_type,
        text=row.text,
        tokens=row.tokens,
        data=row.data if row.kind == "image" else None,
    )


def provider_state(branch: Sequence[Message], provider: str) -> dict[str, Any] | None:
    """Continuation ids from the nearest earlier answer given by the same provider."""
    for message in reversed(branch):
        if message.role == "assistant" and message.provider == provider and message.provider_state:
            return message.provider_state
    return None


class Chat:
    def __init__(
        self,
        db: Database,
        registry: Registry,
        generations: Generations,
        site_settings: SiteSettings | None = None,
    ) -> None:
        self._db = db
        self._registry = registry
        self._generations = generations
        self._site_settings = site_settings

    def default_model(self) -> str | None:
        chosen = self._site_settings.default_model if self._site_settings else None
        return chosen or self._registry.default_model

    async def send(
        self,
        user_id: str,
        conversation_id: str,
        content: str,
        *,
        parent_id: str | None,
        root: bool,
        model: str | None,
        attachments: Sequence[str] = (),
    ) -> LiveGeneration:
        if not content.strip():
            raise BadRequest("The message is empty.")
        conversation, messages = await self._load(user_id, conversation_id)
        wanted = tuple(dict.fromkeys(attachments))
        new_files = (
            await self._db.read(lambda s: attachments_repo.unsent(s, user_id, wanted))
            if wanted
            else []
        )
        if len(new_files) != len(wanted):
            raise NotFound("An attached file was not found (already sent, or deleted).")
        by_id = {m.id: m for m in messages}
        parent = None if root else (parent_id or conversation.current_leaf_id)
        if parent is not None:
            if parent not in by_id:
                raise NotFound("The message to answer after is not in this conversation.")
            if by_id[parent].role != "assistant":
                raise BadRequest("A question must follow an answer; regenerate the answer instead.")
        question = new_question(conversation_id, user_id, parent, content)
        branch = [*(branch_of(messages, parent) if parent else []), question]
        title = (
            auto_title(content) if conversation.title == DEFAULT_TITLE and not messages else None
        )
        return await self._start(
            conversation,
            branch,
            model,
            question=question,
            title=title,
            new_files=[_file(a) for a in new_files],
            attachment_ids=wanted,
        )

    async def regenerate(
        self, user_id: str, conversation_id: str, message_id: str, *, model: str | None
    ) -> LiveGeneration:
        conversation, messages = await self._load(user_id, conversation_id)
        by_id = {m.id: m for m in messages}
        target = by_id.get(message_id)
        if target is None:
            raise NotFound("Message not found in this conversation.")
        question = target if target.role == "user" else by_id.get(target.parent_id or "")
        if question is None or question.role != "user":
            raise BadRequest("There is no question to answer again.")
        return await self._start(conversation, branch_of(messages, question.id), model)

    async def continue_(
        self, user_id: str, conversation_id: str, message_id: str
    ) -> LiveGeneration:
        conversation, messages = await self._load(user_id, conversation_id)
        answer = next((m for m in messages if m.id == message_id), None)
        if answer is None or answer.role != "assistant":
            raise NotFound("Answer not found in this conversation.")
        if self._generations.is_running(answer.id) or answer.status in LIVE_STATUSES:
            raise Conflict(STILL_WRITING)
        if not answer.content:
            raise BadRequest("There is nothing to continue; regenerate the answer instead.")
        branch = branch_of(messages, answer.parent_id)
        # One continuation at a time per answer, across requests and instances: claim the answer
        # by moving it from the status read above to `queued` in one conditional write. Of several
        # continues sent at once only one claims it; the others get 409.
        answer_id, previous = answer.id, answer.status
        if not await self._db.write(lambda s: _move_status(s, answer_id, previous, "queued")):
            raise Conflict(STILL_WRITING)
        try:
            return await self._start(conversation, branch, answer.model, continue_answer=answer)
        except BaseException:
            if not self._generations.is_running(answer_id):  # refused (a quota): as it was
                await self._db.write(lambda s: _move_status(s, answer_id, "queued", previous))
            raise

    async def complete(
        self,
        user_id: str,
        model: str | None,
        messages: list[ChatMessage],
        *,
        temperature: float | None,
        top_p: float | None,
        max_tokens: int | None,
        options: Options = NO_OPTIONS,
    ) -> LiveGeneration:
        """An OpenAI-style request from an API client: the client sends the context itself.
        What the model's upstream cannot carry is refused here, before anything is counted or
        sent (`UnsupportedField`, naming the field)."""
        route = self._registry.route(model)
        request = ChatRequest(
            route.model, messages, temperature, top_p, max_tokens, options=options
        )
        provider = route.provider
        surface.check(provider.kind.value, provider.surface, request)
        estimate = None  # counted only if a limit or a missing usage report needs it
        return await self._generations.start(
            Job(user_id=user_id, route=route, request=request, prompt_estimate=estimate)
        )

    async def _files(
        self, conversation_id: str, branch: Sequence[Message], question: Message | None
    ) -> dict[str, list[context_builder.File]]:
        """The files already sent in this branch, by message id (one indexed read)."""
        ids = [m.id for m in branch if m.role == "user" and m is not question]
        if not ids:
            return {}
        rows = await self._db.read(lambda s: attachments_repo.for_context(s, conversation_id, ids))
        files: dict[str, list[context_builder.File]] = {}
        for row in rows:
            assert row.message_id is not None
            files.setdefault(row.message_id, []).append(_file(row))
        return files

    async def _load(self, user_id: str, conversation_id: str) -> tuple[Conversation, list[Message]]:
        return await self._db.read(lambda s: load_conversation(s, user_id, conversation_id))

    async def _start(
        self,
        conversation: Conversation,
        branch: list[Message],
        model: str | None,
        *,
        question: Message | None = None,
        title: str | None = None,
        continue_answer: Message | None = None,
        new_files: Sequence[context_builder.File] = (),
        attachment_ids: tuple[str, ...] = (),
    ) -> LiveGeneration:
        settings = ConversationSettings.of(conversation.settings)
        route = self._registry.route(model or settings.model or self.default_model())
        if continue_answer is not None and route.provider.kind is ProviderKind.chatgpt_web:
            raise BadRequest("Continuing an answer is not available with the ChatGPT web provider.")
        files = await self._files(conversation.id, branch, question)
        if question is not None and new_files:
            files[question.id] = list(new_files)
        asked = next((m for m in reversed(branch) if m.role == "user"), None)
        if (
            asked is not None
            and not route.vision
            and any(f.kind == "image" for f in files.get(asked.id, ()))
        ):
            raise ModelCannotSee(
                f"The model {route.name} does not accept images; choose a model that does, "
                "or remove the images."
            )
        continuation = continue_answer.content if continue_answer else None
        planned = context_builder.plan(
            branch,
            settings,
            route.model,
            continuation=continuation,
            files=files,
            vision=route.vision,
        )
        if planned.needs_counting and not tokens.loaded():
            await tokens.ready()  # a long conversation is trimmed to its window by counting
        built = context_builder.assemble(planned)
        request = ChatRequest(
            model=route.model,
            messages=built.messages,
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
            state=provider_state(branch, route.provider.name),
            continuation=continue_answer is not None,
        )
        job = Job(
            user_id=conversation.user_id,
            route=route,
            request=request,
            prompt_estimate=built.prompt_tokens,
            source="chat",
            conversation_id=conversation.id,
            question=question,
            question_id=question.id if question else branch[-1].id,
            attachment_ids=attachment_ids,
            continue_answer=continue_answer,
            title=title,
        )
        return await self._generations.start(job)
