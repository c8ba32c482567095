"""A provider changed in the admin console swaps its scheduler pool in place: requests waiting
keep their place and are served by a new credential, a credential rebuilt under the same id keeps
its state, and removing the provider fails only the requests still waiting (in-process, and on
Redis when TEST_REDIS_URL is set)."""

from __future__ import annotations

import asyncio

import pytest

from chatgate.errors import ModelUnavailable
from chatgate.providers.base import Credential
from tests.conftest import Harness


def _credential(name: str) -> Credential:
    return Credential(provider="swapped", name=name, secret=None, concurrency=1)


async def test_re_adding_a_pool_keeps_its_waiters_and_states(harness: Harness) -> None:
    scheduler = harness.services.scheduler
    one = _credential("one")
    scheduler.add_pool("swapped", [one])
    first = await scheduler.acquire("swapped", "alice")
    waiting = asyncio.create_task(scheduler.acquire("swapped", "bob"))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # the only credential is busy

    one_again, two = _credential("one"), _credential("two")
    scheduler.add_pool("swapped", [one_again, two])
    assert one_again.state is one.state  # in flight, rests and errors carry over by id
    second = await asyncio.wait_for(waiting, 5)
    assert second.credential is two
    first.release()
    second.release()


async def test_removing_a_pool_fails_its_waiters_and_lets_running_ones_release(
    harness: Harness,
) -> None:
    scheduler = harness.services.scheduler
    scheduler.add_pool("swapped", [_credential("one")])
    running = await scheduler.acquire("swapped", "alice")
    waiting = asyncio.create_task(scheduler.acquire("swapped", "bob"))
    await asyncio.sleep(0.2)
    scheduler.remove_pool("swapped")
    with pytest.raises(ModelUnavailable, match="removed"):
        await asyncio.wait_for(waiting, 5)
    running.release()  # the answer that was running ends normally
    with pytest.raises(ModelUnavailable):
        await scheduler.acquire("swapped", "carol")
