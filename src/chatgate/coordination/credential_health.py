"""The health of upstream credentials, the same whichever scheduler keeps it: how long a refused
credential rests, what people hear meanwhile, and what the admin console shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from chatgate.errors import ModelUnavailable, UpstreamResting
from chatgate.ids import utcnow
from chatgate.providers.base import Credential


@dataclass(frozen=True, slots=True)
class RestPolicy:
    """How long a refused credential rests: `first` seconds, doubling, at most `longest`."""

    first: float = 20.0
    longest: float = 600.0

    def rest(self, refusals_in_a_row: int) -> float:
        return float(min(self.first * 2.0 ** max(0, refusals_in_a_row - 1), self.longest))


def resting_error(pool_name: str, seconds: float) -> UpstreamResting:
    """What people hear while every credential of a model rests: when it is tried again."""
    seconds = max(1, int(seconds + 0.999))
    retry_at = utcnow() + timedelta(seconds=seconds)
    when = f"{seconds} seconds" if seconds < 120 else f"{round(seconds / 60)} minutes"
    return UpstreamResting(
        "The AI service refused ChatGate's credentials. They will be tried again in "
        f"{when} (at {retry_at:%H:%M:%S} UTC). The administrator has been told.",
        retry_after=seconds,
        detail=f"{pool_name}: every credential is resting",
        extra={"retry_after": seconds, "retry_at": retry_at.isoformat()},
    )


def carry_states(old: list[Credential], new: list[Credential]) -> None:
    """A credential rebuilt with the same id (its provider was changed in the admin console)
    keeps its run-time state object: answers still streaming on the old object release into the
    same in-flight count, and a rest or a cool-down carries on."""
    states = {credential.id: credential.state for credential in old}
    for credential in new:
        state = states.get(credential.id)
        if state is not None:
            credential.state = state


def provider_removed(pool_name: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"The administrator removed the AI service {pool_name!r} while this request waited for it."
    )


def credential_row(credential: Credential, *, cooling_seconds: float) -> dict[str, object]:
    """One credential's state for the admin console — never its secret."""
    state = credential.state
    cooling = max(0.0, cooling_seconds)
    kind = "ready" if cooling <= 0 else ("resting" if state.resting else "cooling_down")
    next_try = utcnow() + timedelta(seconds=cooling) if cooling > 0 else None
    return {
        "name": credential.name,
        "concurrency": credential.concurrency,
        "in_flight": state.in_flight,
        "requests": state.requests,
        "state": kind,
        "cooling_down_seconds": round(cooling, 1),
        "failing": kind == "resting",
        "rests": state.rests,
        "last_error": state.last_error,
        "last_error_at": state.last_error_at.isoformat() if state.last_error_at else None,
        "next_try_at": next_try.isoformat() if next_try else None,
    }
