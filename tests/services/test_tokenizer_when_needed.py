"""The tokenizer (~40 MB, ~0.4 s to load) is loaded only where counting happens: token quotas at
start-up, a conversation longer than its window, an upstream that reports no usage."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from chatgate.config import ModelConfig, QuotaConfig, Settings
from chatgate.db.models import Message
from chatgate.services.context import assemble, plan
from chatgate.services.conversations import ConversationSettings
from chatgate.services.quotas import Quotas


def _branch(*texts: str) -> list[Message]:
    roles = ["user", "assistant"]
    return [Message(role=roles[n % 2], content=text) for n, text in enumerate(texts)]


def test_a_conversation_within_its_window_is_built_without_counting() -> None:
    model = ModelConfig(id="m", context_window=8192)
    settings = ConversationSettings()
    short = _branch("Hello", "Hi!", "How are you?")
    assert not plan(short, settings, model).needs_counting
    assert assemble(plan(short, settings, model)).prompt_tokens is None

    long = _branch(*["word " * 3000] * 5, "and now?")
    assert plan(long, settings, model).needs_counting
    built = assemble(plan(long, settings, model))
    assert built.prompt_tokens is not None and built.dropped > 0


def test_only_token_limits_ask_for_the_tokenizer_at_start_up() -> None:
    assert not Quotas(Settings(quotas=QuotaConfig(messages_per_day=5))).count_tokens
    assert Quotas(Settings(quotas=QuotaConfig(tokens_per_day=10_000))).count_tokens
    assert Quotas(Settings(role_quotas={"user": QuotaConfig(max_input_tokens=4000)})).count_tokens


def test_a_server_that_never_counts_never_loads_it() -> None:
    """In a fresh process: modules imported, a conversation built, and still nothing loaded."""
    script = textwrap.dedent(
        """
        from chatgate.config import ModelConfig
        from chatgate.db.models import Message
        from chatgate.services import tokens
        from chatgate.services.context import assemble, plan
        from chatgate.services.conversations import ConversationSettings

        branch = [Message(role="user", content="Hello")]
        assemble(plan(branch, ConversationSettings(), ModelConfig(id="m")))
        print(tokens.loaded())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
