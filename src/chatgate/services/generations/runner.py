"""Running one answer on the upstream: admission, retries before the first token, failover.

The scheduler admits the request to a credential of the model's provider; the provider streams
the answer straight into the live generation (the sink). A failure before the first token is
retried — on another credential when the pool has one, after a short back-off otherwise — and
tells the scheduler what it means for the credential: a 429 cools it down for its Retry-After; a
refusal (401/402/403, an exhausted quota) rests it with doubling rests until a success heals it.
Once text has arrived nothing is retried: the partial answer is kept and the error is told.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import structlog

from chatgate.config import Settings
from chatgate.coordination.protocols import Admission
from chatgate.db.models import AnswerStatus
from chatgate.errors import (
    ChatGateError,
    UpstreamAuth,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from chatgate.providers.base import Credential
from chatgate.services.generations.job import Job
from chatgate.services.live import QUEUED, STREAMING, LiveGeneration

log = structlog.get_logger(__name__)

MAX_RETRY_WAIT = 30.0


def error_payload(error: ChatGateError) -> dict[str, Any]:
    """What the `error` event and the stored message say: code, message and the error's extras
    (when a resting credential is tried again, which quota, …)."""
    return {"code": error.code, "message": error.message, **error.extra}


class Runner:
    def __init__(self, settings: Settings, scheduler: Admission) -> None:
        self._settings = settings
        self._scheduler = scheduler

    async def run(self, generation: LiveGeneration, job: Job) -> AnswerStatus:
        """Produce the answer into `generation`; the status it ends with (never raises, except
        when the generation's task is cancelled for another reason than those it knows)."""
        provider = job.route.provider
        try:
            await self._attempts(generation, job)
            return AnswerStatus.complete
        except asyncio.CancelledError:
            reason = generation.stop_reason
            if reason == "timeout":
                generation.error = error_payload(
                    UpstreamTimeout(
                        "The AI service stopped sending the answer."
                        if generation.first_output_at
                        else "The AI service did not start answering in time."
                    )
                )
                return AnswerStatus.error
            return AnswerStatus.interrupted if reason == "shutdown" else AnswerStatus.stopped
        except UpstreamError as error:
            generation.error = error_payload(error)
            log.warning(
                "upstream failed", provider=provider.name, code=error.code, detail=error.detail
            )
            return AnswerStatus.error
        except ChatGateError as error:
            generation.error = error_payload(error)
            return AnswerStatus.error
        except Exception as exc:
            generation.error = error_payload(ChatGateError())
            log.error("generation crashed", generation=generation.id, exc_info=exc)
            return AnswerStatus.error

    async def _attempts(self, generation: LiveGeneration, job: Job) -> None:
        provider = job.route.provider
        loop = asyncio.get_running_loop()
        retries = self._settings.upstream_retries

        def on_position(position: int) -> None:
            generation.emit(QUEUED, {"position": position})

        attempt = 0
        while True:
            lease = await self._scheduler.acquire(provider.name, generation.user_id, on_position)
            credential = lease.credential
            generation.credential = credential.id
            failure: UpstreamError | None = None
            try:
                if generation.status != AnswerStatus.streaming:
                    generation.status = AnswerStatus.streaming
                    generation.dirty = True
                    generation.emit(STREAMING, {})
                generation.admitted_at = generation.last_activity = loop.time()
                await provider.stream(job.request, credential, generation)
                await self._scheduler.succeeded(credential)
            except UpstreamError as error:
                await self._tell_scheduler(provider.name, credential, error)
                # A refused credential is retried on another one of the pool (the scheduler
                # says "resting" at once when there is none).
                retryable = error.retryable or isinstance(error, UpstreamAuth)
                if generation.first_output_at is not None or not retryable or attempt >= retries:
                    raise
                failure = error
            finally:
                lease.release()
            if failure is None:
                return
            attempt += 1
            log.info(
                "retrying upstream", provider=provider.name, attempt=attempt, code=failure.code
            )
            # A cooling or resting credential is skipped by the scheduler, which fails over to
            # another credential at once. Other failures back off here.
            if not isinstance(failure, UpstreamRateLimited | UpstreamAuth):
                await asyncio.sleep(self._retry_wait(failure, attempt))

    async def _tell_scheduler(
        self, provider: str, credential: Credential, error: UpstreamError
    ) -> None:
        reason = error.detail or error.message
        if isinstance(error, UpstreamAuth):
            rest = await self._scheduler.refused(credential, reason=reason)
            log.error(
                "upstream credential refused; resting it",
                provider=provider,
                credential=credential.name,
                rest_seconds=round(rest, 1),
                detail=error.detail,
            )
        elif isinstance(error, UpstreamRateLimited):
            wait = error.retry_after if error.retry_after is not None else 2.0
            await self._scheduler.cool_down(
                credential, min(wait, MAX_RETRY_WAIT * 10), reason=reason
            )
        else:
            await self._scheduler.note_error(credential, reason)

    @staticmethod
    def _retry_wait(error: UpstreamError, attempt: int) -> float:
        if error.retry_after is not None:
            return float(min(error.retry_after, MAX_RETRY_WAIT)) + random.uniform(0, 0.25)
        backoff: float = min(0.5 * 2.0 ** (attempt - 1), MAX_RETRY_WAIT)
        return backoff * random.uniform(0.8, 1.2)
