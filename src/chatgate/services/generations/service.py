"""The generation lifecycle (DESIGN.md §6).

1. Quotas are checked and the request is recorded in the usage ledger — for chats together with
   the question and an assistant row in status `queued` — in one transaction, before any
   upstream call.
2. The scheduler admits the request when its credential has room; the client hears its position.
3. The answer is produced by a server-side task that does not depend on any HTTP connection:
   pieces go to the live event log, and rows are checkpointed once a second for all running
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
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.orm import Session as DbSession

from chatgate.config import Settings
from chatgate.db.engine import Database
from chatgate.db.models import Message, UsageRecord, User
from chatgate.db.repos import conversations as repo
from chatgate.db.repos import usage as usage_repo
from chatgate.errors import (
    ChatGateError,
    NotFound,
    UpstreamAuth,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from chatgate.ids import new_id, utcnow
from chatgate.providers.base import (
    ChatRequest,
    Credential,
    Finish,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from chatgate.providers.registry import ModelRoute
from chatgate.services import tokens
from chatgate.services.live import (
    DONE,
    ERROR,
    LIVE_STATUSES,
    QUEUED,
    RESET,
    START,
    STREAMING,
    TITLE,
    USAGE,
    LiveGeneration,
)
from chatgate.services.quotas import Quotas
from chatgate.services.scheduler import FAILING_REST_SECONDS, Admission

if TYPE_CHECKING:
    from chatgate.coordination.redis_streams import SharedGenerations

log = structlog.get_logger(__name__)

CHECKPOINT_INTERVAL = 1.0
REAP_EVERY_TICKS = 5
HEARTBEAT_AFTER = 15.0
MAX_RETRY_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class Job:
    """One answer to produce: for whom, from which model, with what, and where it is kept."""

    user_id: str
    route: ModelRoute
    request: ChatRequest
    prompt_estimate: int | None  # None: not counted yet (see prompt_tokens())
    source: str = "api"  # chat (stored in a conversation) | api (/v1: only the ledger)
    conversation_id: str | None = None
    question: Message | None = None  # a new question to store first
    question_id: str | None = None
    continue_answer: Message | None = None
    title: str | None = None

    @property
    def stored(self) -> bool:
        return self.conversation_id is not None

    def prompt_tokens(self) -> int:
        """Our count of what is sent upstream (loads the tokenizer the first time)."""
        if self.prompt_estimate is not None:
            return self.prompt_estimate
        return tokens.count_messages([m.content for m in self.request.messages])


def cost_micro_usd(route: ModelRoute, prompt: int, completion: int) -> int:
    model = route.model
    return round(prompt * (model.input_price or 0) + completion * (model.output_price or 0))


class Generations:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        scheduler: Admission,
        quotas: Quotas,
        *,
        shared: SharedGenerations | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._scheduler = scheduler
        self._quotas = quotas
        self._shared = shared
        # Running generations, and finished ones kept for replay (oldest first).
        self._live: dict[str, LiveGeneration] = {}
        self._recent: OrderedDict[str, LiveGeneration] = OrderedDict()
        self._unmirrored: set[str] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._ticks = 0

    # -- lifecycle of the service -----------------------------------------------------------
    async def start_service(self) -> None:
        if self._shared is not None:
            await self._shared.start(
                self._mirror_source, self._stop_requested, self._unmirrored.difference_update
            )
        self._ticker = asyncio.create_task(self._tick(), name="generations-ticker")

    async def recover(self) -> int:
        """At startup, answers a crash left `queued`/`streaming` become `interrupted` (keeping
        their text). With several instances, only those whose instance is gone."""
        if self._shared is not None:
            return await self._reap_orphans()

        def recover(s: DbSession) -> int:
            now = utcnow()
            usage_repo.interrupt_live_usage(s, now)
            return repo.interrupt_live_messages(s, now)

        return await self._db.write(recover)

    async def shutdown(self, grace: float = 0.0) -> None:
        """Let running answers finish for `grace` seconds, then mark the rest `interrupted`.
        Safe to call twice (the server's shutdown and the app's lifespan both do)."""
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
        await self.settle()

    # -- starting ---------------------------------------------------------------------------
    async def start(self, job: Job) -> LiveGeneration:
        now = utcnow()
        route = job.route
        answer_id = job.continue_answer.id if job.continue_answer is not None else new_id()
        usage_id = new_id()

        def commit(s: DbSession) -> None:
            user = s.get(User, job.user_id)
            if user is None:
                raise NotFound("No such user.")
            quota = self._quotas.effective(user.role, user.quota)
            self._quotas.check(
                s,
                job.user_id,
                quota,
                model_id=route.model.id,
                input_tokens=job.prompt_tokens,
                now=now,
            )
            usage_repo.add_usage(
                s,
                UsageRecord(
                    id=usage_id,
                    user_id=job.user_id,
                    message_id=answer_id if job.stored else None,
                    source=job.source,
                    model=route.model.id,
                    provider=route.provider.name,
                    day=now.date().isoformat(),
                    created_at=now,
                ),
            )
            if job.stored:
                self._store_question(s, job, answer_id, now)

        try:
            await self._db.write(commit)
        except ChatGateError:
            raise
        except Exception as exc:  # a foreign-key failure: the conversation was deleted meanwhile
            raise NotFound("Conversation not found.") from exc

        loop = asyncio.get_running_loop()
        generation = LiveGeneration(
            id=answer_id,
            user_id=job.user_id,
            conversation_id=job.conversation_id or "",
            user_message_id=job.question_id or "",
            model=route.model.id,
            provider=route.provider.name,
            prefix=job.continue_answer.content if job.continue_answer else "",
            now=loop.time(),
        )
        generation.usage_id = usage_id
        generation.stored = job.stored
        generation.emit(
            START,
            {
                "conversation_id": job.conversation_id,
                "user_message_id": job.question_id,
                "message_id": answer_id,
                "model": route.model.id,
            },
        )
        if job.continue_answer is not None:
            generation.emit(RESET, {"text": job.continue_answer.content})
        if job.title:
            generation.emit(TITLE, {"title": job.title})
        self._live[answer_id] = generation
        self._recent.pop(answer_id, None)
        if self._shared is not None:
            await self._shared.claim(answer_id)
            self._unmirrored.add(answer_id)
        generation.task = asyncio.create_task(
            self._run(generation, job), name=f"generation-{answer_id}"
        )
        return generation

    @staticmethod
    def _store_question(s: DbSession, job: Job, answer_id: str, now: Any) -> None:
        assert job.conversation_id is not None
        if job.question is not None:
            job.question.created_at = job.question.updated_at = now
            repo.add_message(s, job.question)
        if job.continue_answer is not None:
            repo.update_message(
                s,
                answer_id,
                status="queued",
                updated_at=now,
                finished_at=None,
                error_code=None,
                error_message=None,
            )
        else:
            # The answer sorts after its question even when both land in the same microsecond.
            answered_at = now + timedelta(microseconds=1)
            answer = Message(
                id=answer_id,
                conversation_id=job.conversation_id,
                user_id=job.user_id,
                parent_id=job.question_id,
                role="assistant",
                content="",
                status="queued",
                model=job.route.model.id,
                provider=job.route.provider.name,
                created_at=answered_at,
                updated_at=answered_at,
            )
            repo.add_message(s, answer)
        values: dict[str, Any] = {"current_leaf_id": answer_id, "updated_at": now}
        if job.title:
            values["title"] = job.title
        repo.update_conversation(s, job.conversation_id, **values)

    # -- running ----------------------------------------------------------------------------
    async def _run(self, generation: LiveGeneration, job: Job) -> None:
        provider = job.route.provider
        loop = asyncio.get_running_loop()
        retries = self._settings.upstream_retries

        def on_position(position: int) -> None:
            generation.emit(QUEUED, {"position": position})

        attempt = 0
        try:
            while True:
                lease = await self._scheduler.acquire(
                    provider.name, generation.user_id, on_position
                )
                credential = lease.credential
                generation.credential = credential.id
                failure: UpstreamError | None = None
                try:
                    if generation.status != "streaming":
                        generation.status = "streaming"
                        generation.dirty = True
                        generation.emit(STREAMING, {})
                    generation.admitted_at = generation.last_activity = loop.time()
                    stream_into = getattr(provider, "stream_into", None)
                    if stream_into is not None:
                        await stream_into(job.request, credential, _Sink(generation, loop))
                    else:
                        async with contextlib.aclosing(
                            provider.stream_chat(job.request, credential)
                        ) as events:
                            await self._stream(generation, events)
                    await self._scheduler.succeeded(credential)
                except UpstreamError as error:
                    await self._note_failure(provider.name, credential, error)
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
        await asyncio.shield(self._finish(generation, job, status))

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
                generation.finish_reason = event.reason
                if event.state:
                    generation.provider_state = event.state
            elif type(event) is ReasoningDelta:
                generation.last_activity = loop.time()

    async def _note_failure(
        self, provider: str, credential: Credential, error: UpstreamError
    ) -> None:
        if isinstance(error, UpstreamRateLimited):
            wait = error.retry_after if error.retry_after is not None else 2.0
            await self._scheduler.cool_down(
                credential, min(wait, MAX_RETRY_WAIT * 10), reason=error.detail or error.message
            )
        elif isinstance(error, UpstreamAuth):
            await self._scheduler.cool_down(
                credential, FAILING_REST_SECONDS, reason=error.detail, failing=True
            )
            log.error(
                "upstream credential refused",
                provider=provider,
                credential=credential.name,
                detail=error.detail,
            )
        else:
            await self._scheduler.note_error(credential, error.detail or error.message)

    @staticmethod
    def _retry_wait(error: UpstreamError, attempt: int) -> float:
        if error.retry_after is not None:
            return float(min(error.retry_after, MAX_RETRY_WAIT)) + random.uniform(0, 0.25)
        backoff: float = min(0.5 * 2.0 ** (attempt - 1), MAX_RETRY_WAIT)
        return backoff * random.uniform(0.8, 1.2)

    async def _finish(self, generation: LiveGeneration, job: Job, status: str) -> None:
        loop = asyncio.get_running_loop()
        admitted = generation.admitted_at is not None
        estimated = generation.prompt_tokens is None or generation.completion_tokens is None
        if generation.prompt_tokens is None:
            generation.prompt_tokens = job.prompt_tokens() if admitted else 0
        if generation.completion_tokens is None:
            generated = generation.generated_text()
            generation.completion_tokens = tokens.count(generated) if generated else 0
        generation.status = status
        now = utcnow()
        prompt, completion = generation.prompt_tokens, generation.completion_tokens
        error_code, error_message = generation.error if generation.error else (None, None)
        text = generation.text()

        def save(s: DbSession) -> None:
            if generation.stored:
                repo.update_message(
                    s,
                    generation.id,
                    content=text,
                    status=status,
                    prompt_tokens=prompt if admitted else None,
                    completion_tokens=completion if admitted else None,
                    provider_state=generation.provider_state,
                    finish_reason=generation.finish_reason,
                    updated_at=now,
                    finished_at=now,
                    error_code=error_code,
                    error_message=error_message,
                )
            usage_repo.finish_usage(
                s,
                generation.usage_id,
                status=status,
                prompt_tokens=prompt,
                completion_tokens=completion,
                estimated=estimated,
                credential=generation.credential,
                cost_micro_usd=cost_micro_usd(job.route, prompt, completion),
                finished_at=now,
            )

        try:
            await self._db.write(save)
            generation.dirty = False
        except ChatGateError as exc:
            generation.error = (exc.code, exc.message)
            status = generation.status = "error"
            log.error("saving the answer failed", generation=generation.id, error=exc.message)
        if admitted:
            generation.emit(USAGE, {"prompt_tokens": prompt, "completion_tokens": completion})
        if generation.error:
            generation.emit(ERROR, {"code": generation.error[0], "message": generation.error[1]})
        generation.emit(DONE, {"status": status})
        generation.finished_at = loop.time()
        if self._live.get(generation.id) is generation:
            del self._live[generation.id]
            self._recent[generation.id] = generation

    # -- control ----------------------------------------------------------------------------
    def get(self, user_id: str, generation_id: str) -> LiveGeneration | None:
        generation = self._live.get(generation_id) or self._recent.get(generation_id)
        return generation if generation is not None and generation.user_id == user_id else None

    def is_running(self, generation_id: str) -> bool:
        generation = self._live.get(generation_id)
        return generation is not None and not generation.finished

    async def stored(self, user_id: str, generation_id: str) -> Message:
        message = await self._db.read(lambda s: repo.get_message(s, user_id, generation_id))
        if message is None or message.role != "assistant":
            raise NotFound("Generation not found.")
        return message

    async def stop(self, user_id: str, generation_id: str) -> str:
        """Stop from any tab, through any instance. Returns the status it ends (or ended) with."""
        generation = self.get(user_id, generation_id)
        if generation is None:
            message = await self.stored(user_id, generation_id)
            if self._shared is None or message.status not in LIVE_STATUSES:
                return message.status
            await self._shared.request_stop(generation_id)
            for _ in range(100):  # the owner stops it and commits the final state
                await asyncio.sleep(0.05)
                message = await self.stored(user_id, generation_id)
                if message.status not in LIVE_STATUSES:
                    break
            return message.status
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
        stop = self._settings.stop_on_disconnect or not generation.stored
        if (
            stop
            and generation.subscribers == 0
            and generation.task is not None
            and not generation.task.done()
        ):
            # An API client that hangs up wants nothing more; a browser tab may come back.
            generation.stop_reason = "disconnect"
            generation.task.cancel()

    async def follow_elsewhere(
        self, user_id: str, generation_id: str, after: int
    ) -> AsyncIterator[list[tuple[int, str, Any]]] | None:
        """Events of a generation running on another instance (None when there is none)."""
        if self._shared is None:
            return None
        message = await self.stored(user_id, generation_id)
        if message.status not in LIVE_STATUSES and not await self._shared.exists(generation_id):
            return None
        if not await self._shared.exists(generation_id):
            return None
        return self._shared.events(generation_id, after, idle=HEARTBEAT_AFTER)

    # -- several instances ----------------------------------------------------------------------
    async def settle(self) -> None:
        """Make everything produced so far visible to the other instances."""
        if self._shared is not None:
            await self._shared.flush()

    def _mirror_source(self) -> list[tuple[str, int, list[str], list[Any], bool]]:
        items = []
        for generation_id in list(self._unmirrored):
            generation = self._live.get(generation_id) or self._recent.get(generation_id)
            if generation is None:
                self._unmirrored.discard(generation_id)
                continue
            items.append(
                (generation.id, 0, generation.kinds, generation.payloads, generation.finished)
            )
        return items

    async def _stop_requested(self, generation_id: str) -> None:
        generation = self._live.get(generation_id)
        if generation is not None and generation.task is not None and not generation.task.done():
            generation.stop_reason = generation.stop_reason or "user"
            generation.task.cancel()

    async def _reap_orphans(self) -> int:
        """Answers whose instance died: `interrupted`, with the text of their last checkpoint."""
        assert self._shared is not None
        candidates = await self._db.read(lambda s: repo.live_messages(s))
        orphans = await self._shared.orphans([m.id for m in candidates], set(self._live))
        if not orphans:
            return 0
        now = utcnow()

        def interrupt(s: DbSession) -> int:
            usage_repo.interrupt_usage_of(s, orphans, now)
            return repo.interrupt_live_messages(s, now, ids=orphans)

        count = await self._db.write(interrupt)
        by_id = {m.id: m for m in candidates}
        error = {
            "code": "interrupted",
            "message": "The server answering this stopped; the text so far is kept.",
        }
        for generation_id in orphans:
            await self._shared.append_final(
                generation_id, by_id[generation_id].content, "interrupted", error
            )
        log.warning("interrupted answers of a stopped instance", count=count)
        return count

    # -- once a second ----------------------------------------------------------------------
    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            self._ticks += 1
            try:
                self._enforce_timeouts()
                await self._checkpoint()
                self._forget_old()
                if self._shared is not None and self._ticks % REAP_EVERY_TICKS == 0:
                    await self._reap_orphans()
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
            if generation.dirty and generation.stored and not generation.finished:
                generation.dirty = False
                rows.append(
                    {
                        "mid": generation.id,
                        "content": generation.text(),
                        "status": generation.status,
                        "updated_at": now,
                    }
                )
        if not rows:
            return

        def save(s: DbSession) -> None:
            repo.checkpoint_messages(s, rows)

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
        while self._recent:
            oldest = next(iter(self._recent.values()))
            if oldest.finished_at is not None and now - oldest.finished_at <= keep:
                break
            self._recent.popitem(last=False)


class _Sink:
    """Where a push-style adapter puts the answer: straight into the live generation."""

    __slots__ = ("generation", "time")

    def __init__(self, generation: LiveGeneration, loop: asyncio.AbstractEventLoop) -> None:
        self.generation = generation
        self.time = loop.time

    def text(self, text: str) -> None:
        generation, now = self.generation, self.time()
        if generation.first_token_at is None:
            generation.first_token_at = now
        generation.add_text(text, now)

    def reasoning(self, text: str) -> None:
        self.generation.last_activity = self.time()

    def usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        self.generation.prompt_tokens = prompt_tokens
        self.generation.completion_tokens = completion_tokens

    def finish(self, reason: str | None, state: dict[str, Any] | None = None) -> None:
        self.generation.finish_reason = reason
        if state:
            self.generation.provider_state = state
