"""One answer to produce, and what it costs."""

from __future__ import annotations

from dataclasses import dataclass

from chatgate.db.models import Message
from chatgate.providers.base import ChatRequest
from chatgate.providers.registry import ModelRoute
from chatgate.providers.surface import surface_text
from chatgate.services import tokens


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
    attachment_ids: tuple[str, ...] = ()  # the sender's unsent files, linked to `question`
    continue_answer: Message | None = None
    title: str | None = None

    @property
    def stored(self) -> bool:
        return self.conversation_id is not None

    def prompt_tokens(self) -> int:
        """Our count of what is sent upstream (loads the tokenizer the first time)."""
        if self.prompt_estimate is not None:
            return self.prompt_estimate
        texts = [m.content for m in self.request.messages]
        # /v1: the calls in the history and the tool definitions are read by the model too.
        texts += [c.name + c.arguments for m in self.request.messages for c in m.tool_calls]
        options = self.request.options
        if options.tools or options.response_format is not None:
            texts.append(surface_text(options))
        return tokens.count_messages(texts)


def cost_micro_usd(route: ModelRoute, prompt: int, completion: int) -> int:
    model = route.model
    return round(prompt * (model.input_price or 0) + completion * (model.output_price or 0))
