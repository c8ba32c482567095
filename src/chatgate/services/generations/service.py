"""Starting, finishing and controlling generations; the hand-over between instances.

1. Quotas are checked and the request is recorded in the usage ledger — for chats together with
   the question and an assistant row in status `queued` — in one transaction, before any
   upstream call.
2. The answer is produced by a server-side task (`runner`) that does not depend on any HTTP
   connection; the `ticker` checkpoints it once a second.
3. The final state — `complete`, `stopped`, `interrupted` or `error`, with usage — is committed
   before the `done` event, so a client that saw `done` can reload and find the same text.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import structlog
from sqlalchemy.orm import Session as DbSession

from chatgate.config import Settings
from chatgate.coordination.protocols import Admission, LiveStreams
from chatgate.db.engine import Database
from chatgate.db.models import AnswerStatus, Message
from chatgate.db.repos import attachments as attachments_repo
from chatgate.db.repos import conversations as repo
from chatgate.db.repos import usage as usage_repo
from chatgate.errors import ChatGateError, Interrupted, ModelUnavailable, NotFound
from chatgate.ids import new_id, utcnow
from chatgate.services import tokens
from chatgate.services.conversations import MessageView
from chatgate.services.generations.job import Job, cost_micro_usd
from chatgate.services.generations.rows import queued_answer, reserved_usage
from chatgate.services.generations.runner import Runner, error_payload
from chatgate.services.generations.ticker import HEARTBEAT_AFTER, Ticker
from chatgate.services.live import (
    DONE,
    ERROR,
    LIVE_STATUSES,
    RESET,
    START,
    TITLE,
    USAGE,
    LiveGeneration,
)
from chatgate.services.quotas import DEFAULT_OUTPUT_RESERVATION, Quotas, Reservation

log = structlog.get_logger(__name__)

REAP_EVERY_TICKS = 5


class Generations:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        scheduler: Admission,
        quotas: Quotas,
        streams: LiveStreams,
    ) -> None:
        self._db = db
        self._settings = settings
        self._scheduler = scheduler
        self._quotas = quotas
        self._streams = streams
        # Running generations, and finished ones kept for replay (oldest first).
        self._live: dict[str, LiveGeneration] = {}
        self._recent: OrderedDict[str, LiveGeneration] = OrderedDict()
        # Committed but not yet in _live: never taken for another instance's orphan.
        self._starting: set[str] = set()
        self._unmirrored: set[str] = set()
        self._runner = Runner(settings, scheduler)
        self._ticker = Ticker(
            db,
            settings,
            self._live,
            self._recent,
            # With one process, whatever runs is in memory: orphans exist only at startup.
            every_few_ticks=self._reap_orphans if streams.shared else None,
            few=REAP_EVERY_TICKS,
        )

    # -- lifecycle of the service -----------------------------------------------------------
    async def start_service(self) -> None:
        await self._streams.start(
            self._mirror_source, self._stop_requested, self._unmirrored.difference_update
        )
        self._ticker.start()

    async def recover(self) -> int:
        """At startup, answers a crash left `queued`/`streaming` become `interrupted` (keeping
        their text). With several instances, only those whose instance is gone."""
        return await self._reap_orphans()

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
        await self._ticker.stop()
        await self._ticker.checkpoint()
        await self.settle()

    # -- starting ---------------------------------------------------------------------------
    async def start(self, job: Job) -> LiveGeneration:
        now = utcnow()
        route = job.route
        answer_id = job.continue_answer.id if job.continue_answer is not None else new_id()
        # A /v1 answer has no message row: its ledger row carries the generation's id, so the
        # reaper finds it when its instance dies.
        usage_id = new_id() if job.stored else answer_id
        request = job.request
        output_limit = request.max_tokens or route.model.max_output_tokens
        choices = request.options.choices
        if choices > 1:  # /v1's n: every choice may be as long
            output_limit = (output_limit or DEFAULT_OUTPUT_RESERVATION) * choices
        reservation = Reservation()
        self._starting.add(answer_id)

        def commit(s: DbSession) -> None:
            nonlocal reservation
            user = usage_repo.lock_user(s, job.user_id)
            if user is None:
                raise NotFound("No such user.")
            if not route.allows(user.role, user.username):  # the admin console's per-model list
                raise ModelUnavailable(
                    f"The model {route.model.id!r} is not available on this server."
                )
            quota = self._quotas.effective(user.role, user.quota)
            reservation = self._quotas.admit(
                s,
                job.user_id,
                quota,
                model_id=route.model.id,
                output_limit=output_limit,
                input_tokens=job.prompt_tokens,
                now=now,
            )
            usage_repo.add_usage(
                s,
                reserved_usage(
                    usage_id,
                    job.user_id,
                    answer_id if job.stored else None,
                    source=job.source,
                    model=route.model.id,
                    provider=route.provider.name,
                    reserved_tokens=reservation.tokens,
                    now=now,
                ),
            )
            if job.stored:
                self._store_question(s, job, answer_id, now)

        # The upstream request goes out as soon as the quota has admitted it, while the commit
        # is on its way to disk; nothing is shown before the commit has landed.
        stages = self._db.write_in_stages(commit)
        try:
            try:
                await stages.ran
            except ChatGateError:
                raise
            except Exception as exc:  # a foreign-key failure: the conversation was deleted
                raise NotFound("Conversation not found.") from exc
            generation, job = self._prepare(job, answer_id, usage_id, reservation)
            generation.task = asyncio.create_task(
                self._run(generation, job, stages.committed), name=f"generation-{answer_id}"
            )
            try:
                await stages.committed
            except Exception:
                # The question is not stored: the upstream request stops unseen, the client
                # hears why. (A caller cancelled meanwhile leaves the answer to run and be saved.)
                generation.stop_reason = "not stored"
                generation.task.cancel()
                await asyncio.gather(generation.task, return_exceptions=True)
                raise
            self._live[answer_id] = generation
        finally:
            self._starting.discard(answer_id)
        self._recent.pop(answer_id, None)
        if self._streams.shared and job.stored:  # what another instance may be asked to replay
            self._unmirrored.add(answer_id)
        await self._streams.claim(answer_id)
        return generation

    def _prepare(
        self, job: Job, answer_id: str, usage_id: str, reservation: Reservation
    ) -> tuple[LiveGeneration, Job]:
        """The live answer with its opening events, and the job as its quota admitted it."""
        route, request = job.route, job.request
        choices = request.options.choices
        if reservation.max_output is not None:
            # What is left of a token budget bounds the answer the upstream may write.
            per_choice = max(1, reservation.max_output // choices)
            if per_choice != request.max_tokens:
                job = replace(job, request=replace(request, max_tokens=per_choice))

        loop = asyncio.get_running_loop()
        generation = LiveGeneration(
            id=answer_id,
            user_id=job.user_id,
            conversation_id=job.conversation_id or "",
            user_message_id=job.question_id or "",
            model=route.model.id,
            provider=route.provider.name,
            prefix=job.continue_answer.content if job.continue_answer else "",
            reasoning_prefix=job.continue_answer.reasoning if job.continue_answer else "",
            clock=loop.time,
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
            reset = {"text": job.continue_answer.content}
            if job.continue_answer.reasoning:
                reset["reasoning"] = job.continue_answer.reasoning
            generation.emit(RESET, reset)
        if job.title:
            generation.emit(TITLE, {"title": job.title})
        return generation, job

    @staticmethod
    def _store_question(s: DbSession, job: Job, answer_id: str, now: Any) -> None:
        assert job.conversation_id is not None
        if job.question is not None:
            job.question.created_at = job.question.updated_at = now
            repo.add_message(s, job.question)
            if job.attachment_ids:
                linked = attachments_repo.link(
                    s, job.user_id, job.attachment_ids, job.question.id, job.conversation_id
                )
                if linked != len(job.attachment_ids):  # sent by another request meanwhile
                    raise NotFound("An attached file was not found (already sent, or deleted).")
        if job.continue_answer is not None:
            # The row holds exactly the prefix the live answer starts from: checkpoints append.
            repo.update_message(
                s,
                answer_id,
                content=job.continue_answer.content,
                reasoning=job.continue_answer.reasoning,
                status=AnswerStatus.queued,
                updated_at=now,
                finished_at=None,
                error_code=None,
                error_message=None,
            )
        else:
            answer = queued_answer(
                answer_id,
                job.conversation_id,
                job.user_id,
                job.question_id,
                model=job.route.model.id,
                provider=job.route.provider.name,
                asked_at=now,
            )
            repo.add_message(s, answer)
        values: dict[str, Any] = {"current_leaf_id": answer_id, "updated_at": now}
        if job.title:
            values["title"] = job.title
        repo.update_conversation(s, job.conversation_id, **values)

    # -- running and finishing ------------------------------------------------------------
    async def _run(
        self, generation: LiveGeneration, job: Job, committed: asyncio.Future[Any]
    ) -> None:
        status = await self._runner.run(generation, job)
        await asyncio.shield(self._finish_once_stored(generation, job, status, committed))

    async def _finish_once_stored(
        self,
        generation: LiveGeneration,
        job: Job,
        status: AnswerStatus,
        committed: asyncio.Future[Any],
    ) -> None:
        """An upstream quicker than the question's commit waits for it; a question that was not
        stored has no rows to finish (start() told the client)."""
        await asyncio.wait([committed])
        if committed.cancelled() or committed.exception() is not None:
            return
        await self._finish(generation, job, status)

    async def _finish(self, generation: LiveGeneration, job: Job, status: AnswerStatus) -> None:
        """Commit the final state, then tell the readers: `usage`, `error`, `done`. Whatever goes
        wrong on the way, the readers hear `done` — a stream never hangs."""
        loop = asyncio.get_running_loop()
        admitted = generation.admitted_at is not None
        counts: tuple[int, int] | None = None
        try:
            counts = await self._record(generation, job, status)
        except ChatGateError as exc:
            generation.error = error_payload(exc)
            status = AnswerStatus.error
            log.error("saving the answer failed", generation=generation.id, error=exc.message)
        except Exception as exc:
            generation.error = error_payload(ChatGateError())
            status = AnswerStatus.error
            log.error("finishing the answer failed", generation=generation.id, exc_info=exc)
            await self._record_failure(generation)
        generation.status = status
        if admitted and counts is not None:
            generation.emit(USAGE, {"prompt_tokens": counts[0], "completion_tokens": counts[1]})
        if generation.error:
            generation.emit(ERROR, generation.error)
        generation.emit(DONE, {"status": str(status)})
        generation.finished_at = loop.time()
        if self._live.get(generation.id) is generation:
            del self._live[generation.id]
            # Kept for the replay window, for a tab that reloads; a `/v1` answer is not: its
            # client has it all or hung up (which stopped it), and no key can re-attach.
            if generation.stored:
                generation.compact()  # trimmed to size
                # Its task is ending (this is its last step): some 650 bytes a finished answer
                # need not hold through the replay window.
                generation.task = None
                self._recent[generation.id] = generation
                self._let_go_of_text(generation)

    def _let_go_of_text(self, generation: LiveGeneration) -> None:
        """A finished answer in the replay window that no reader follows keeps no text: a client
        that re-attaches having missed text gets the stored row. Not while another instance may
        still be sent its events (they are mirrored from this log)."""
        if (
            generation.subscribers == 0
            and generation.id not in self._unmirrored
            and self._recent.get(generation.id) is generation
        ):
            generation.let_go_of_text()

    async def _record(
        self, generation: LiveGeneration, job: Job, status: AnswerStatus
    ) -> tuple[int, int]:
        """The answer's final row and its ledger row, with real (or estimated) token counts."""
        admitted = generation.admitted_at is not None
        estimated = generation.prompt_tokens is None or generation.completion_tokens is None
        if estimated:
            await tokens.ready()  # the upstream reported no usage: count it ourselves
        if generation.prompt_tokens is None:
            generation.prompt_tokens = job.prompt_tokens() if admitted else 0
        calls = generation.tool_calls()
        if generation.completion_tokens is None:  # reasoning is generated (and paid for) too,
            generated = (  # and so are function calls: their names and arguments
                generation.generated_text()
                + generation.reasoning_so_far()[len(generation.reasoning_prefix) :]
                + "".join(call["name"] + call["arguments"] for call in calls)
                + "".join(text for text, _ in generation.other_choices().values())
            )
            generation.completion_tokens = tokens.count(generated) if generated else 0
        now = utcnow()
        prompt, completion = generation.prompt_tokens, generation.completion_tokens
        error = generation.error or {}
        error_code, error_message = error.get("code"), error.get("message")
        text, reasoning = generation.text_so_far(), generation.reasoning_so_far()

        def save(s: DbSession) -> None:
            if generation.stored:
                repo.update_message(
                    s,
                    generation.id,
                    content=text,
                    reasoning=reasoning,
                    status=status,
                    prompt_tokens=prompt if admitted else None,
                    completion_tokens=completion if admitted else None,
                    provider_state=generation.provider_state,
                    finish_reason=generation.finish_reason,
                    # Message parts beyond the text: the function calls the answer made.
                    parts=[{"type": "tool_call", **call} for call in calls] if calls else None,
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

        await self._db.write(save)
        generation.dirty = False
        return prompt, completion

    async def _record_failure(self, generation: LiveGeneration) -> None:
        """After an unexpected failure: at least end the rows (the last checkpoint's text stays)."""
        now = utcnow()
        error = ChatGateError()

        def save(s: DbSession) -> None:
            if generation.stored:
                repo.update_message(
                    s,
                    generation.id,
                    status=AnswerStatus.error,
                    updated_at=now,
                    finished_at=now,
                    error_code=error.code,
                    error_message=error.message,
                )
            usage_repo.finish_usage(
                s, generation.usage_id, status=AnswerStatus.error, finished_at=now
            )

        try:
            await self._db.write(save)
            generation.dirty = False
        except Exception as exc:
            log.error("ending the answer failed", generation=generation.id, exc_info=exc)

    # -- control ----------------------------------------------------------------------------
    def get(self, user_id: str, generation_id: str) -> LiveGeneration | None:
        generation = self._live.get(generation_id) or self._recent.get(generation_id)
        return generation if generation is not None and generation.user_id == user_id else None

    @property
    def held(self) -> int:
        """Answers this instance holds in memory: being written, waiting for the upstream, or
        finished and still replayable (`stream_retention_seconds`)."""
        return len(self._live) + len(self._recent)

    def is_running(self, generation_id: str) -> bool:
        generation = self._live.get(generation_id)
        return generation is not None and not generation.finished

    async def stored(self, user_id: str, generation_id: str) -> MessageView:
        """The answer as last committed (its final state, once finished)."""

        def read(s: DbSession) -> MessageView:
            message = repo.get_message(s, user_id, generation_id)
            if message is None or message.role != "assistant":
                raise NotFound("Generation not found.")
            return MessageView.of(message)

        return await self._db.read(read)

    async def stop(self, user_id: str, generation_id: str) -> str:
        """Stop from any tab, through any instance. Returns the status it ends (or ended) with."""
        generation = self.get(user_id, generation_id)
        if generation is None:
            message = await self.stored(user_id, generation_id)
            if not self._streams.shared or message.status not in LIVE_STATUSES:
                return message.status
            await self._streams.request_stop(generation_id)
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
        if generation.finished:
            self._let_go_of_text(generation)
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
        await self.stored(user_id, generation_id)  # theirs, or NotFound
        if not await self._streams.exists(generation_id):
            return None
        return self._streams.events(generation_id, after, idle=HEARTBEAT_AFTER)

    # -- several instances ----------------------------------------------------------------------
    async def settle(self) -> None:
        """Make everything produced so far visible to the other instances."""
        await self._streams.flush()

    def _mirror_source(self) -> list[tuple[str, int, Sequence[str], Sequence[Any], bool]]:
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

        def running(s: DbSession) -> tuple[list[Message], list[str]]:
            return list(repo.live_messages(s)), usage_repo.live_api_usage_ids(s)

        messages, api_requests = await self._db.read(running)
        candidates = [m.id for m in messages] + api_requests
        orphans = await self._streams.orphans(candidates, set(self._live) | self._starting)
        if not orphans:
            return 0
        now = utcnow()

        def interrupt(s: DbSession) -> int:
            usage_repo.interrupt_usage_of(s, orphans, now)
            return repo.interrupt_live_messages(s, now, ids=orphans)

        count = await self._db.write(interrupt)
        text = {m.id: m.content for m in messages}
        error = error_payload(Interrupted())
        for generation_id in orphans:
            await self._streams.append_final(
                generation_id, text.get(generation_id, ""), AnswerStatus.interrupted, error
            )
        log.warning("interrupted answers of a stopped instance", count=count)
        return count
