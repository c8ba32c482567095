"""What is sent upstream: the system prompt, then as much of the stored branch as the
conversation's settings and the model's window allow, newest kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatgate.config import ModelConfig
from chatgate.db.models import Message
from chatgate.providers.base import ChatMessage
from chatgate.services import tokens
from chatgate.services.conversations import ConversationSettings

DEFAULT_CONTEXT_WINDOW = 8192
DEFAULT_OUTPUT_RESERVE = 1024
# Known windows for common models when the configuration does not say (prefix match).
KNOWN_WINDOWS = {
    "gpt-4o": 128_000,
    "gpt-4.1": 1_000_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4": 200_000,
    "gpt-5": 400_000,
    "claude": 200_000,
    "deepseek": 64_000,
    "text-davinci-002-render": 8_192,
}


@dataclass(frozen=True, slots=True)
class Context:
    messages: list[ChatMessage]
    prompt_tokens: int | None  # counted while trimming; None when trimming needed no count
    dropped: int  # earlier messages left out


def context_window(model: ModelConfig) -> int:
    if model.context_window:
        return model.context_window
    name = model.upstream_name.lower()
    for prefix, window in sorted(KNOWN_WINDOWS.items(), key=lambda item: -len(item[0])):
        if name.startswith(prefix):
            return window
    return DEFAULT_CONTEXT_WINDOW


def usable_history(branch: Sequence[Message]) -> list[Message]:
    """Messages worth sending: non-empty text from finished or partial turns."""
    return [m for m in branch if m.content and m.role in ("user", "assistant")]


@dataclass(frozen=True, slots=True)
class Plan:
    """What a context is made of, measured in bytes before any token is counted."""

    history: list[Message]
    system: list[ChatMessage]
    fixed: list[ChatMessage]  # the system prompt, the question (and a partial answer)
    earlier: list[Message]  # what may be dropped, oldest first
    budget: int
    upper: int  # at least as many tokens as all of it: ≤ budget means it fits without counting

    @property
    def needs_counting(self) -> bool:
        """Whether `assemble` will count tokens (so the tokenizer must be loaded first)."""
        return self.upper > self.budget


def plan(
    branch: Sequence[Message],
    settings: ConversationSettings,
    model: ModelConfig,
    *,
    continuation: str | None = None,
) -> Plan:
    """`branch` ends with the user message being answered (or before `continuation`)."""
    history = usable_history(branch)
    latest, earlier = (history[-1:], history[:-1]) if history else ([], [])
    if settings.context_messages is not None:
        earlier = earlier[-settings.context_messages :] if settings.context_messages else []

    reserve = settings.max_tokens or model.max_output_tokens or DEFAULT_OUTPUT_RESERVE
    budget = context_window(model) - reserve
    if settings.context_tokens:
        budget = min(budget, settings.context_tokens)

    system = (
        [ChatMessage("system", settings.system_prompt)] if settings.system_prompt.strip() else []
    )
    fixed = [*system, *(ChatMessage(m.role, m.content) for m in latest)]
    if continuation:
        fixed.append(ChatMessage("assistant", continuation))
    # A token is at least one byte: when the bytes fit, so do the tokens, and the tokenizer (40 MB,
    # ~0.4 s to load) is not needed at all.
    upper = sum(tokens.upper_bound(m.content) for m in fixed) + sum(
        tokens.upper_bound(m.content) for m in earlier
    )
    return Plan(history, system, fixed, earlier, budget, upper)


def assemble(parts: Plan) -> Context:
    """The messages to send: all of them when they fit, else the newest that fit the budget."""
    history, system, fixed, earlier, budget = (
        parts.history,
        parts.system,
        parts.fixed,
        parts.earlier,
        parts.budget,
    )
    latest = history[-1:]
    if not parts.needs_counting:
        kept_all = [ChatMessage(m.role, m.content) for m in earlier]
        return Context(
            [*system, *kept_all, *fixed[len(system) :]],
            None,
            max(0, len(history) - len(latest) - len(earlier)),
        )
    used = sum(tokens.count_message(m.content) for m in fixed)
    kept: list[ChatMessage] = []
    for message in reversed(earlier):
        cost = tokens.count_message(message.content)
        if used + cost > budget:
            break
        kept.append(ChatMessage(message.role, message.content))
        used += cost
    kept.reverse()
    # The system prompt stays first, the question (and partial answer) last.
    messages = [*system, *kept, *fixed[len(system) :]]
    return Context(messages, used, max(0, len(history) - len(latest) - len(kept)))
