"""Per-person quotas: general defaults, then the role's, then the person's own overrides.

Admission is a reservation, decided from the usage ledger inside the same transaction that
records the new request, before any upstream call, with the person's row locked (PostgreSQL; on
SQLite the one writer serialises it), so simultaneous requests — on any instance — are decided
one after the other. A running request holds its worst case against token budgets: its prompt
plus its output cap, and the cap sent upstream is cut to what the budget has left. When it ends,
its real tokens replace the reservation. So parallel requests never together pass a request or
message limit, and a token budget only by the difference between our prompt estimate and the
upstream's count. A request over a limit gets `429` with the time until a slot frees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session as DbSession

from chatgate.config import QuotaConfig, Settings
from chatgate.db.repos import usage as repo
from chatgate.errors import Forbidden, QuotaExceeded, ValidationFailed

QUOTA_FIELDS = tuple(QuotaConfig.model_fields)


def start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def start_of_month(now: datetime) -> datetime:
    return start_of_day(now).replace(day=1)


def next_month(now: datetime) -> datetime:
    first = start_of_month(now)
    return (first + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True, slots=True)
class Usage:
    requests_last_hour: int
    oldest_in_hour: datetime | None
    messages_today: int
    messages_this_month: int
    tokens_today: int
    tokens_this_month: int
    running: int


class ModelNotAllowed(Forbidden):
    code, default_message = "model_not_allowed", "You are not allowed to use that model."


class InputTooLong(ValidationFailed):
    status, code = 413, "input_too_long"


# With a token budget, an answer whose length nothing else bounds is capped at this many tokens.
DEFAULT_OUTPUT_RESERVATION = 4096
# Below this much room left in a token budget an answer would be cut at once: refuse instead.
MIN_ANSWER_TOKENS = 16


@dataclass(frozen=True, slots=True)
class Reservation:
    """What an admitted request holds: `tokens` against token budgets while it runs, and the
    output cap to send upstream (None: leave the request's own)."""

    tokens: int = 0
    max_output: int | None = None


class Quotas:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def count_tokens(self) -> bool:
        """Whether the configured limits (for everyone or a role) count tokens at admission."""
        return any(
            quota.tokens_per_day is not None
            or quota.tokens_per_month is not None
            or quota.max_input_tokens is not None
            for quota in (self._settings.quotas, *self._settings.role_quotas.values())
        )

    def effective(self, role: str, overrides: dict[str, Any] | None) -> QuotaConfig:
        values = self._settings.quotas.model_dump(exclude_unset=True)
        role_quota = self._settings.role_quotas.get(role)
        if role_quota is not None:
            values.update(role_quota.model_dump(exclude_unset=True))
        for key, value in (overrides or {}).items():
            if key in QUOTA_FIELDS:
                values[key] = value
        return QuotaConfig(**values)

    def model_allowed(self, quota: QuotaConfig, model_id: str) -> bool:
        return quota.allowed_models is None or model_id in quota.allowed_models

    def usage(self, s: DbSession, user_id: str, now: datetime) -> Usage:
        hour, oldest = repo.count_since(s, user_id, now - timedelta(hours=1))
        day, _ = repo.count_since(s, user_id, start_of_day(now))
        month, _ = repo.count_since(s, user_id, start_of_month(now))
        return Usage(
            requests_last_hour=hour,
            oldest_in_hour=oldest,
            messages_today=day,
            messages_this_month=month,
            tokens_today=repo.tokens_since(s, user_id, start_of_day(now)),
            tokens_this_month=repo.tokens_since(s, user_id, start_of_month(now)),
            running=repo.live_count(s, user_id),
        )

    def admit(
        self,
        s: DbSession,
        user_id: str,
        quota: QuotaConfig,
        *,
        model_id: str,
        output_limit: int | None,
        input_tokens: Callable[[], int],
        now: datetime,
    ) -> Reservation:
        """Reserve one more request now, or raise naming the limit it would break.

        Call inside the transaction that records the request, after `repo.lock_user`.
        `output_limit` bounds the answer when known (the request's or the model's max tokens)."""
        if not self.model_allowed(quota, model_id):
            raise ModelNotAllowed()
        token_limits = {
            name: limit
            for name, limit in (
                ("tokens_per_day", quota.tokens_per_day),
                ("tokens_per_month", quota.tokens_per_month),
            )
            if limit is not None
        }
        counted = quota.max_input_tokens is not None or bool(token_limits)
        prompt = input_tokens() if counted else 0
        if quota.max_input_tokens is not None and prompt > quota.max_input_tokens:
            raise InputTooLong(
                f"This message with its context is about {prompt} tokens; your limit is "
                f"{quota.max_input_tokens}. Shorten it or reduce the context size.",
                extra={
                    "quota": "max_input_tokens",
                    "limit": quota.max_input_tokens,
                    "tokens": prompt,
                },
            )
        limits = (
            quota.requests_per_hour,
            quota.concurrent_generations,
            quota.messages_per_day,
            quota.messages_per_month,
            *token_limits.values(),
        )
        if all(limit is None for limit in limits):
            return Reservation()
        used = self.usage(s, user_id, now)
        tomorrow = start_of_day(now) + timedelta(days=1)
        if (
            quota.concurrent_generations is not None
            and used.running >= quota.concurrent_generations
        ):
            raise QuotaExceeded(
                f"You already have {used.running} answer(s) being written; wait for one to finish.",
                retry_after=5,
                extra={"quota": "concurrent_generations", "limit": quota.concurrent_generations},
            )
        if (
            quota.requests_per_hour is not None
            and used.requests_last_hour >= quota.requests_per_hour
        ):
            frees = (used.oldest_in_hour or now) + timedelta(hours=1)
            raise _exceeded("requests_per_hour", quota.requests_per_hour, frees, now)
        if quota.messages_per_day is not None and used.messages_today >= quota.messages_per_day:
            raise _exceeded("messages_per_day", quota.messages_per_day, tomorrow, now)
        if (
            quota.messages_per_month is not None
            and used.messages_this_month >= quota.messages_per_month
        ):
            raise _exceeded("messages_per_month", quota.messages_per_month, next_month(now), now)
        if not token_limits:
            return Reservation()
        spent = {"tokens_per_day": used.tokens_today, "tokens_per_month": used.tokens_this_month}
        resets = {"tokens_per_day": tomorrow, "tokens_per_month": next_month(now)}
        tightest = min(token_limits, key=lambda name: token_limits[name] - spent[name])
        room = token_limits[tightest] - spent[tightest] - prompt
        if room < MIN_ANSWER_TOKENS:
            raise _exceeded(tightest, token_limits[tightest], resets[tightest], now)
        cap = min(output_limit or DEFAULT_OUTPUT_RESERVATION, room)
        return Reservation(tokens=prompt + cap, max_output=cap)

    def report(self, quota: QuotaConfig, used: Usage, now: datetime) -> dict[str, Any]:
        """What a person has used and has left, for their own settings page."""
        tomorrow = start_of_day(now) + timedelta(days=1)

        def line(limit: int | None, value: int, resets: datetime | None) -> dict[str, Any]:
            return {
                "limit": limit,
                "used": value,
                "remaining": None if limit is None else max(0, limit - value),
                "resets_at": resets.isoformat() if resets else None,
            }

        hour_frees = (used.oldest_in_hour + timedelta(hours=1)) if used.oldest_in_hour else None
        return {
            "requests_per_hour": line(quota.requests_per_hour, used.requests_last_hour, hour_frees),
            "concurrent_generations": line(quota.concurrent_generations, used.running, None),
            "messages_per_day": line(quota.messages_per_day, used.messages_today, tomorrow),
            "messages_per_month": line(
                quota.messages_per_month, used.messages_this_month, next_month(now)
            ),
            "tokens_per_day": line(quota.tokens_per_day, used.tokens_today, tomorrow),
            "tokens_per_month": line(
                quota.tokens_per_month, used.tokens_this_month, next_month(now)
            ),
            "max_input_tokens": quota.max_input_tokens,
            "allowed_models": quota.allowed_models,
        }


def _exceeded(name: str, limit: int, frees_at: datetime, now: datetime) -> QuotaExceeded:
    readable = name.replace("_", " ").replace("per", "per")
    when = frees_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return QuotaExceeded(
        f"You have reached your limit of {limit} {readable}. It resets at {when}.",
        retry_after=max(1.0, (frees_at - now).total_seconds()),
        extra={"quota": name, "limit": limit, "resets_at": frees_at.isoformat()},
    )
