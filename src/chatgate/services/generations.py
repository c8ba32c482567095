"""The generation lifecycle (DESIGN.md §6).

1. The question is checked, then committed together with an assistant row in status `queued`.
2. The scheduler admits the request when its credential has room; the client hears its position.
3. The answer is produced by a server-side task that does not depend on any HTTP connection:
   pieces go to the live event log, and the row is checkpointed once a second for all running
   generations together (never a write per token).
4. The final state — `complete`, `stopped`, `interrupted` or `error`, with usage — is committed
   before the `done` event, so a client that saw `done` can reload and find the same text.

Retries happen only before the first token. Timeouts are per phase (first token, silence between
tokens), never a deadline on the whole answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from chatgate.config import ProviderKind, Settings
from chatgate.db.engine import Database
from chatgate.db.models import Conversation, Message
from chatgate.db.repos import conversations as repo
from chatgate.errors import (
    BadRequest,
    ChatGateError,
    NotFound,
    StorageFull,
    UpstreamAuth,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from chatgate.ids import new_id, utcnow
from chatgate.providers.base import ChatRequest, Finish, ReasoningDelta, TextDelta, Usage
from chatgate.providers.registry import ModelRoute, Registry
from chatgate.services import context as context_builder
from chatgate.services import tokens
from chatgate.services.conversations import DEFAULT_TITLE, ConversationSettings, branch_of
from chatgate.services.live import (
    DONE,
    ERROR,
    QUEUED,
    RESET,
    START,
    STREAMING,
    TITLE,
    USAGE,
    LiveGeneration,
)
from chatgate.services.scheduler import FAILING_REST_SECONDS, Scheduler

log = structlog.get_logger(__name__)

CHECKPOINT_INTERVAL = 1.0
HEARTBEAT_AFTER = 15.0
TITLE_LENGTH = 60
MAX_RETRY_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything decided before anything is written."""

    conversation: Conversation
    route: ModelRoute
    settings: ConversationSettings
    branch: list[Message]  # ends with the user message being answered
    state: dict[str, Any] | None


def _auto_title(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _provider_state(branch: Sequence[Message], provider: str) -> dict[str, Any] | None:
    """Continuation ids from the nearest earlier answer given by the same provider."""
    for message in reversed(branch):
        if message.role == "assistant" and message.provider == provider and message.provider_state:
            return message.provider_state
    return None


class Generations:
    def __init__(
        self, db: Database, settings: Settings, registry: Registry, scheduler: Scheduler
    ) -> None:
        self._db = db
        self._settings = settings
        self._registry = registry
        self._scheduler = scheduler
        self._live: dict[str, LiveGeneration] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle of the service -----------------------------------------------------------
    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick(), name="generations-ticker")

    async def shutdown(self, grace: float = 0.0) -> None:
        """Let running answers finish for `grace` seconds, then mark the rest `interrupted`."""
        self._closing = True
        running = [g.task for g in self._live.values() if g.task is not None and not g.task.done()]
        if running and grace > 0:
            await asyncio.wait(running, timeout=grace)
        for generation in self._live.values():
            if generation.task is not None and not generation.task.done():
                generation.stop_reason = "shutdown"
                generation.task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self._checkpoint()

    # -- starting ---------------------------------------------------------------------------
    async def send(
        self,
        user_id: str,
        conversation_id: str,
        content: str,
        *,
        parent_id: str | None,
        root: bool,
        model: str | None,
    ) -> LiveGeneration:
        """A new question (after `parent_id`, the current leaf, or as a new root) and its answer."""
        if not content.strip():
            raise BadRequest("The message is empty.")
        conversation, messages = await self._load(user_id, conversation_id)
        by_id = {m.id: m for m in messages}
        parent = None if root else (parent_id or conversation.current_leaf_id)
        if parent is not None:
            if parent not in by_id:
                raise NotFound("The message to answer after is not in this conversation.")
            if by_id[parent].role != "assistant":
                raise BadRequest("A question must follow an answer; regenerate the answer instead.")
        branch = branch_of(messages, parent) if parent else []
        question = Message(
            id=new_id(),
            conversation_id=conversation_id,
            user_id=user_id,
            parent_id=parent,
            role="user",
            content=content,
            status="complete",
        )
        plan = self._plan(conversation, [*branch, question], model)
        title = (
            _auto_title(content) if conversation.title == DEFAULT_TITLE and not messages else None
        )
        return await self._begin(plan, question=question, title=title)

    async def regenerate(
        self, user_id: str, conversation_id: str, message_id: str, *, model: str | None
    ) -> LiveGeneration:
        """Another answer to the same question: a new sibling of the answer (or child of the question)."""
        conversation, messages = await self._load(user_id, conversation_id)
        by_id = {m.id: m for m in messages}
        target = by_id.get(message_id)
        if target is None:
            raise NotFound("Message not found in this conversation.")
        question = target if target.role == "user" else by_id.get(target.parent_id or "")
        if question is None or question.role != "user":
            raise BadRequest("There is no question to answer again.")
        plan = self._plan(conversation, branch_of(messages, question.id), model)
        return await self._begin(plan, question=None)

    async def continue_(
        self, user_id: str, conversation_id: str, message_id: str
    ) -> LiveGeneration:
        """Carry on writing a stopped, interrupted or cut-off answer, in the same message."""
        conversation, messages = await self._load(user_id, conversation_id)
        answer = next((m for m in messages if m.id == message_id), None)
        if answer is None or answer.role != "assistant":
            raise NotFound("Answer not found in this conversation.")
        running = self._live.get(answer.id)
        if (running is not None and not running.finished) or answer.status in (
            "queued",
            "streaming",
        ):
            raise BadRequest("This answer is still being written.")
        if not answer.content:
            raise BadRequest("There is nothing to continue; regenerate the answer instead.")
        branch = branch_of(messages, answer.parent_id)
        plan = self._plan(conversation, branch, answer.model)
        if plan.route.provider.kind is ProviderKind.chatgpt_web:
            raise BadRequest("Continuing an answer is not available with the ChatGPT web provider.")
        return await self._begin(plan, question=None, continue_answer=answer)

    async def _load(self, user_id: str, conversation_id: str) -> tuple[Conversation, list[Message]]:
        async with self._db.read() as s:
            conversation = await repo.get_conversation(s, user_id, conversation_id)
            if conversation is None:
                raise NotFound("Conversation not found.")
            return conversation, list(await repo.list_messages(s, conversation_id))

    def _plan(self, conversation: Conversation, branch: list[Message], model: str | None) -> _Plan:
        settings = ConversationSettings.of(conversation.settings)
        route = self._registry.route(model or settings.model)
        return _Plan(
            conversation, route, settings, branch, _provider_state(branch, route.provider.name)
        )

    async def _begin(
        self,
        plan: _Plan,
        *,
        question: Message | None,
        title: str | None = None,
        continue_answer: Message | None = None,
    ) -> LiveGeneration:
        now = utcnow()
        # The answer sorts after its question even when both land in the same microsecond.
        answered_at = now + timedelta(microseconds=1)
        conversation = plan.conversation
        question_id = question.id if question else plan.branch[-1].id
        answer_id = continue_answer.id if continue_answer is not None else new_id()
        answer = Message(
            id=answer_id,
            conversation_id=conversation.id,
            user_id=conversation.user_id,
            parent_id=question_id,
            role="assistant",
            content="",
            status="queued",
            model=plan.route.model.id,
            provider=plan.route.provider.name,
            created_at=answered_at,
            updated_at=answered_at,
        )

        async def commit(s: AsyncSession) -> None:
            if question is not None:
                question.created_at = question.updated_at = now
                await repo.add_message(s, question)
            if continue_answer is not None:
                await repo.update_message(
                    s,
                    answer_id,
                    status="queued",
                    updated_at=now,
                    finished_at=None,
                    error_code=None,
                    error_message=None,
                )
            else:
                await repo.add_message(s, answer)
            values: dict[str, Any] = {"current_leaf_id": answer_id, "updated_at": now}
            if title:
                values["title"] = title
            await repo.update_conversation(s, conversation.id, **values)

        try:
            await self._db.write(commit)
        except ChatGateError:
            raise
        except Exception as exc:  # a foreign-key failure: the conversation was deleted meanwhile
            raise NotFound("Conversation not found.") from exc

        loop = asyncio.get_running_loop()
        generation = LiveGeneration(
            id=answer_id,
            user_id=conversation.user_id,
            conversation_id=conversation.id,
            user_message_id=question_id,
            model=plan.route.model.id,
            provider=plan.route.provider.name,
            prefix=continue_answer.content if continue_answer else "",
            now=loop.time(),
        )
        generation.emit(
            START,
            {
                "conversation_id": conversation.id,
                "user_message_id": question_id,
                "message_id": answer_id,
                "model": plan.route.model.id,
            },
        )
        if continue_answer is not None:
            generation.emit(RESET, {"text": continue_answer.content})
        if title:
            generation.emit(TITLE, {"title": title})
        self._live[answer_id] = generation
        generation.task = asyncio.create_task(
            self._run(generation, plan, continue_answer), name=f"generation-{answer_id}"
        )
        return generation

    # -- running ----------------------------------------------------------------------------
    async def _run(
        self, generation: LiveGeneration, plan: _Plan, continued: Message | None
    ) -> None:
        route = plan.route
        provider = route.provider
        loop = asyncio.get_running_loop()
        retries = self._settings.upstream_retries
        built = context_builder.build(
            plan.branch,
            plan.settings,
            route.model,
            continuation=continued.content if continued else None,
        )
        request = ChatRequest(
            model=route.model,
            messages=built.messages,
            temperature=plan.settings.temperature,
            top_p=plan.settings.top_p,
            max_tokens=plan.settings.max_tokens,
            state=plan.state,
            continuation=continued is not None,
        )

        def on_position(position: int) -> None:
            generation.emit(QUEUED, {"position": position})

        attempt = 0
        try:
            while True:
                lease = await self._scheduler.acquire(
                    provider.name, generation.user_id, on_position
                )
                credential = lease.credential
                failure: UpstreamError | None = None
                try:
                    if generation.status != "streaming":
                        generation.status = "streaming"
                        generation.dirty = True
                        generation.emit(STREAMING, {})
                    generation.admitted_at = generation.last_activity = loop.time()
                    async with contextlib.aclosing(
                        provider.stream_chat(request, credential)
                    ) as events:
                        await self._stream(generation, events)
                    self._scheduler.succeeded(credential)
                except UpstreamError as error:
                    self._note_failure(provider.name, credential, error)
                    if (
                        generation.first_token_at is not None
                        or not error.retryable
                        or attempt >= retries
                    ):
                        raise
                    failure = error
                finally:
                    lease.release()
                if failure is None:
                    break
                attempt += 1
                log.info(
                    "retrying upstream", provider=provider.name, attempt=attempt, code=failure.code
                )
                # A rate-limited credential is cooling down: the scheduler waits for it, or fails
                # over to another credential at once. Other failures back off here.
                if not isinstance(failure, UpstreamRateLimited):
                    await asyncio.sleep(self._retry_wait(failure, attempt))
            status = "complete"
        except asyncio.CancelledError:
            reason = generation.stop_reason
            if reason == "timeout":
                status = "error"
                timeout = UpstreamTimeout(
                    "The AI service stopped sending the answer."
                    if generation.first_token_at
                    else "The AI service did not start answering in time."
                )
                generation.error = (timeout.code, timeout.message)
            else:
                status = "interrupted" if reason == "shutdown" else "stopped"
        except UpstreamError as error:
            status = "error"
            generation.error = (error.code, error.message)
            log.warning(
                "upstream failed", provider=provider.name, code=error.code, detail=error.detail
            )
        except ChatGateError as error:
            status = "error"
            generation.error = (error.code, error.message)
        except Exception as exc:
            status = "error"
            generation.error = ("internal_error", "Something went wrong on the server.")
            log.error("generation crashed", generation=generation.id, exc_info=exc)
        await asyncio.shield(self._finish(generation, status, built.prompt_tokens))

    async def _stream(self, generation: LiveGeneration, events: Any) -> None:
        loop = asyncio.get_running_loop()
        async for event in events:
            if type(event) is TextDelta:
                now = loop.time()
                if generation.first_token_at is None:
                    generation.first_token_at = now
                generation.add_text(event.text, now)
            elif type(event) is Usage:
                generation.prompt_tokens = event.prompt_tokens
                generation.completion_tokens = event.completion_tokens
            elif type(event) is Finish:
                if event.state:
                    generation.provider_state = event.state
            elif type(event) is ReasoningDelta:
                generation.last_activity = loop.time()

    def _note_failure(self, provider: str, credential: Any, error: UpstreamError) -> None:
        if isinstance(error, UpstreamRateLimited):
            wait = error.retry_after if error.retry_after is not None else 2.0
            self._scheduler.cool_down(
                credential, min(wait, MAX_RETRY_WAIT * 10), reason=error.detail or error.message
            )
        elif isinstance(error, UpstreamAuth):
            self._scheduler.cool_down(
                credential, FAILING_REST_SECONDS, reason=error.detail, failing=True
            )
            log.error(
                "upstream credential refused",
                provider=provider,
                credential=credential.name,
                detail=error.detail,
            )
        else:
            credential.state.last_error = error.detail or error.message

    @staticmethod
    def _retry_wait(error: UpstreamError, attempt: int) -> float:
        if error.retry_after is not None:
            return float(min(error.retry_after, MAX_RETRY_WAIT)) + random.uniform(0, 0.25)
        backoff: float = min(0.5 * 2.0 ** (attempt - 1), MAX_RETRY_WAIT)
        return backoff * random.uniform(0.8, 1.2)

    async def _finish(self, generation: LiveGeneration, status: str, estimated_prompt: int) -> None:
        loop = asyncio.get_running_loop()
        text = generation.text()
        if generation.prompt_tokens is None and generation.admitted_at is not None:
            generation.prompt_tokens = estimated_prompt
        if generation.completion_tokens is None and generation.admitted_at is not None:
            generation.completion_tokens = tokens.count(generation.generated_text())
        generation.status = status
        now = utcnow()
        values: dict[str, Any] = {
            "content": text,
            "status": status,
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "provider_state": generation.provider_state,
            "updated_at": now,
            "finished_at": now,
            "error_code": generation.error[0] if generation.error else None,
            "error_message": generation.error[1] if generation.error else None,
        }

        async def save(s: AsyncSession) -> None:
            await repo.update_message(s, generation.id, **values)

        try:
            await self._db.write(save)
            generation.dirty = False
        except StorageFull as exc:
            generation.error = (exc.code, exc.message)
            status = generation.status = "error"
        except ChatGateError as exc:
            generation.error = (exc.code, exc.message)
            status = generation.status = "error"
            log.error("saving the answer failed", generation=generation.id, error=exc.message)
        if generation.prompt_tokens is not None or generation.completion_tokens is not None:
            generation.emit(
                USAGE,
                {
                    "prompt_tokens": generation.prompt_tokens,
                    "completion_tokens": generation.completion_tokens,
                },
            )
        if generation.error:
            generation.emit(ERROR, {"code": generation.error[0], "message": generation.error[1]})
        generation.emit(DONE, {"status": status})
        generation.finished_at = loop.time()

    # -- control ----------------------------------------------------------------------------
    def get(self, user_id: str, generation_id: str) -> LiveGeneration | None:
        generation = self._live.get(generation_id)
        return generation if generation is not None and generation.user_id == user_id else None

    async def stored(self, user_id: str, generation_id: str) -> Message:
        async with self._db.read() as s:
            message = await repo.get_message(s, user_id, generation_id)
        if message is None or message.role != "assistant":
            raise NotFound("Generation not found.")
        return message

    async def stop(self, user_id: str, generation_id: str) -> str:
        """Stop from any tab. Returns the status the generation ends (or ended) with."""
        generation = self.get(user_id, generation_id)
        if generation is None:
            return (await self.stored(user_id, generation_id)).status
        if generation.task is not None and not generation.task.done():
            generation.stop_reason = generation.stop_reason or "user"
            generation.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(generation.task)
        return generation.status

    def subscribed(self, generation: LiveGeneration) -> None:
        generation.subscribers += 1

    def unsubscribed(self, generation: LiveGeneration) -> None:
        generation.subscribers -= 1
        if (
            self._settings.stop_on_disconnect
            and generation.subscribers == 0
            and generation.task is not None
            and not generation.task.done()
        ):
            generation.stop_reason = "disconnect"
            generation.task.cancel()

    def live_count(self) -> int:
        return sum(1 for g in self._live.values() if not g.finished)

    # -- once a second ----------------------------------------------------------------------
    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            try:
                self._enforce_timeouts()
                await self._checkpoint()
                self._forget_old()
            except Exception as exc:
                log.error("generation ticker failed", exc_info=exc)

    def _enforce_timeouts(self) -> None:
        now = asyncio.get_running_loop().time()
        for generation in self._live.values():
            if generation.finished or generation.task is None or generation.task.done():
                continue
            if generation.status == "streaming" and generation.admitted_at is not None:
                if generation.first_token_at is None:
                    limit, since = self._settings.first_token_timeout, generation.admitted_at
                else:
                    limit, since = self._settings.idle_timeout, generation.last_activity
                if now - since > limit:
                    generation.stop_reason = "timeout"
                    generation.task.cancel()
                    continue
            if now - generation.last_activity > HEARTBEAT_AFTER:
                generation.wake()  # lets idle readers send a keep-alive comment

    async def _checkpoint(self) -> None:
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for generation in self._live.values():
            if generation.dirty and not generation.finished:
                generation.dirty = False
                rows.append(
                    {
                        "mid": generation.id,
                        "content": generation.text(),
                        "status": generation.status,
                        "updated_at": now,
                    }
                )
        if rows:

            async def save(s: AsyncSession) -> None:
                await repo.checkpoint_messages(s, rows)

            try:
                await self._db.write(save)
            except ChatGateError as exc:
                log.warning("checkpoint failed", error=exc.message, generations=len(rows))
                for row in rows:
                    live = self._live.get(row["mid"])
                    if live is not None:
                        live.dirty = True

    def _forget_old(self) -> None:
        now = asyncio.get_running_loop().time()
        keep = self._settings.stream_retention_seconds
        for generation_id in [
            g.id
            for g in self._live.values()
            if g.finished_at is not None and now - g.finished_at > keep
        ]:
            del self._live[generation_id]
