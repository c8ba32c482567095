"""Fixtures for chat tests: a fake upstream on a real socket and an app configured to use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Harness
from tests.fakes.upstream import FakeUpstream

REPLY = "Hello 你好 🌍! Here is `code` and **bold** text."
MODELS = {"openai": "fake-model", "anthropic": "claude-fake", "chatgpt_web": "web-fake"}


def providers_for(fake: FakeUpstream, **overrides: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": "oa",
            "kind": "openai",
            "base_url": f"{fake.base_url}/v1",
            "models": [
                "fake-model",
                {"id": "tiny-window", "upstream": "fake-model", "context_window": 1200},
            ],
            "credentials": [{"api_key": "sk-test-openai-key-000000", **overrides}],
        },
        {
            "name": "an",
            "kind": "anthropic",
            "base_url": fake.base_url,
            "models": [{"id": "claude-fake", "upstream": "fake-model"}],
            "credentials": [{"api_key": "sk-ant-test-key-0000000"}],
        },
        {
            "name": "web",
            "kind": "chatgpt_web",
            "base_url": f"{fake.base_url}/backend-api/conversation",
            "models": [{"id": "web-fake", "upstream": "auto"}],
            "credentials": [{"api_key": "eyJ-access-token-0000000"}],
        },
    ]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(reply=REPLY) as upstream:
        yield upstream


@pytest.fixture
async def chat(make_harness: Callable[..., Any], fake: FakeUpstream) -> Harness:
    harness: Harness = await make_harness(
        providers=providers_for(fake), default_model="fake-model", upstream_retries=2
    )
    return harness
