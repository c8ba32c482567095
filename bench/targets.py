"""The systems a run drives: anything speaking OpenAI Chat Completions (the fake itself as the
floor, ChatGate's `/v1`, another gateway), and ChatGate's browser endpoint, which streams the
answer to `POST /api/conversations/{id}/messages` as server-sent events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import urlsplit

import orjson

from bench.chatgate_api import ChatGateApi, UserSession
from bench.protocol import prompt
from bench.seed import Seeded


@dataclass(frozen=True, slots=True)
class Prepared:
    path: str
    body: bytes
    headers: list[tuple[str, str]]
    conversation: str | None = None
    # Where to send it, when not the target's own host and port (several instances).
    host: str | None = None
    port: int | None = None


class Target(Protocol):
    name: str
    host: str
    port: int
    stores_answers: bool
    pid: int | None  # the process whose CPU and memory are measured, when known

    def prepare(self, slot: int, marker: str) -> Prepared: ...

    async def before_step(self, requests: int) -> None: ...


def _host_port(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only plain http:// targets are supported: {url}")
    return parts.hostname, parts.port or 80, parts.path.rstrip("/")


class OpenAITarget:
    """`POST {base}/chat/completions` with `stream: true`; `base` ends with `/v1`."""

    stores_answers = False

    def __init__(
        self,
        name: str,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        keys: list[str] | None = None,
        pid: int | None = None,
    ) -> None:
        """`keys`: one Bearer key per user, taken in turn by the slots."""
        self.name = name
        self.pid = pid
        self.host, self.port, base_path = _host_port(base_url)
        self.path = f"{base_path}/chat/completions"
        self.model = model
        keys = keys or ([api_key] if api_key else [])
        self.headers = [[("Authorization", f"Bearer {key}")] for key in keys] or [[]]

    def prepare(self, slot: int, marker: str) -> Prepared:
        body = orjson.dumps(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": prompt(marker)}],
                "stream": True,
            }
        )
        return Prepared(self.path, body, self.headers[slot % len(self.headers)])

    async def before_step(self, requests: int) -> None:
        return None


class ChatGateTarget:
    """The browser path: each question opens a fresh conversation of one of the bench users
    (created before the step, so the measured window holds only the chat traffic)."""

    stores_answers = True

    def __init__(
        self,
        name: str,
        api: ChatGateApi,
        users: list[UserSession],
        pid: int | None,
        seeded: Seeded | None = None,
    ) -> None:
        """`seeded`: this instance's data for the API calls made while its streams run."""
        self.name = name
        self.pid = pid
        self.api = api
        self.seeded = seeded
        self.host, self.port, _ = _host_port(api.base)
        self.users = users
        self.created_late = 0
        self.owner_of: dict[str, UserSession] = {}

    def prepare(self, slot: int, marker: str) -> Prepared:
        user = self.users[slot % len(self.users)]
        if user.fresh:
            conversation = user.fresh.pop()
        else:  # ran out: borrow one from any user that has some
            donor = next((u for u in self.users if u.fresh), None)
            if donor is None:
                raise RuntimeError("no fresh conversations left; raise the per-step stock")
            user, conversation = donor, donor.fresh.pop()
            self.created_late += 1
        self.owner_of[conversation] = user
        body = orjson.dumps({"content": prompt(marker)})
        path = f"/api/conversations/{conversation}/messages"
        return Prepared(path, body, [("Cookie", user.headers["Cookie"])], conversation)

    async def before_step(self, requests: int) -> None:
        per_user = -(-requests // len(self.users))
        await self.api.fill_fresh(self.users, per_user)


class SplitTarget(ChatGateTarget):
    """The browser path spread over several ChatGate instances that share PostgreSQL and Redis:
    slot i always talks to instance i mod n (sessions and conversations are shared, so any
    instance serves any user)."""

    def __init__(
        self,
        name: str,
        api: ChatGateApi,
        users: list[UserSession],
        instances: list[tuple[str, int, int]],
    ) -> None:
        """`instances`: (host, port, pid) of each instance."""
        super().__init__(name, api, users, instances[0][2])
        self.instances = instances
        self.pids = [pid for _, _, pid in instances]

    def prepare(self, slot: int, marker: str) -> Prepared:
        host, port, _ = self.instances[slot % len(self.instances)]
        return replace(super().prepare(slot, marker), host=host, port=port)
