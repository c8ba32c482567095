"""`write_until_gone`: the writer runs in the request's own task, the disconnect watch in one task
beside it, and a cancellation is taken back only when the watch made it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chatgate.api.sse import write_until_gone


class Client:
    """An ASGI `receive` whose disconnect comes when the test says so."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.receiving = 0

    async def receive(self) -> dict[str, Any]:
        self.receiving += 1
        try:
            await self.gone.wait()
        finally:
            self.receiving -= 1
        return {"type": "http.disconnect"}


async def _sent(message: Any) -> None:
    return None


async def _other_tasks() -> set[asyncio.Task[Any]]:
    await asyncio.sleep(0)  # a cancelled watch ends at its next step
    return asyncio.all_tasks() - {asyncio.current_task()}


async def test_the_writer_runs_in_the_calling_task_and_the_watch_ends_with_it() -> None:
    client = Client()
    writers: list[asyncio.Task[Any] | None] = []

    async def write(send: Any) -> None:
        writers.append(asyncio.current_task())
        await asyncio.sleep(0.01)

    before = await _other_tasks()
    await write_until_gone(client.receive, _sent, write)
    assert writers == [asyncio.current_task()]
    assert await _other_tasks() == before
    assert client.receiving == 0


async def test_a_disconnect_ends_the_writer_and_leaves_the_task_uncancelled() -> None:
    client = Client()
    stopped = asyncio.Event()

    async def write(send: Any) -> None:
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    asyncio.get_running_loop().call_later(0.02, client.gone.set)
    await asyncio.wait_for(write_until_gone(client.receive, _sent, write), 5)
    assert stopped.is_set()
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # and nothing cancels what the task does next


async def test_a_disconnect_just_as_the_writer_finishes_cancels_nothing_after_it() -> None:
    client = Client()

    async def write(send: Any) -> None:
        client.gone.set()  # the watch ends in this same loop turn
        await asyncio.sleep(0)

    await write_until_gone(client.receive, _sent, write)
    await asyncio.sleep(0.01)  # would raise CancelledError if the late watch cancelled us
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_the_servers_own_cancellation_goes_on_up() -> None:
    client = Client()
    writing = asyncio.Event()

    async def write(send: Any) -> None:
        writing.set()
        await asyncio.sleep(60)

    task = asyncio.ensure_future(write_until_gone(client.receive, _sent, write))
    await writing.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert client.receiving == 0  # the watch is let go too


async def test_a_write_to_a_closed_connection_ends_quietly() -> None:
    client = Client()

    async def write(send: Any) -> None:
        raise ConnectionResetError("the client went away")

    await write_until_gone(client.receive, _sent, write)


async def test_a_failing_writer_raises_its_error() -> None:
    client = Client()

    async def write(send: Any) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await write_until_gone(client.receive, _sent, write)


async def test_a_failing_receive_raises_its_error() -> None:
    async def receive() -> dict[str, Any]:
        raise RuntimeError("receive broke")

    async def write(send: Any) -> None:
        await asyncio.sleep(60)

    with pytest.raises(RuntimeError, match="receive broke"):
        await asyncio.wait_for(write_until_gone(receive, _sent, write), 5)
