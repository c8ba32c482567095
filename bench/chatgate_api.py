"""ChatGate's ordinary JSON API, as the harness uses it (aiohttp): sign in, create and seed
conversations, list and load them, and read back stored answers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

SESSION_COOKIE = "chatgate_session"


class ApiError(RuntimeError):
    pass


@dataclass
class UserSession:
    """A signed-in bench user and the fresh conversations waiting for its next questions."""

    username: str
    cookie: str
    fresh: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.cookie}"}


class ChatGateApi:
    def __init__(self, base_url: str, http: aiohttp.ClientSession) -> None:
        self.base = base_url.rstrip("/")
        self.http = http

    async def _json(
        self, method: str, path: str, user: UserSession | None, body: Any = None
    ) -> Any:
        headers = dict(user.headers) if user else {}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body)
        async with self.http.request(method, self.base + path, headers=headers, data=data) as resp:
            payload = await resp.read()
            if resp.status >= 400:
                raise ApiError(f"{method} {path}: HTTP {resp.status}: {payload[:300]!r}")
            return orjson.loads(payload) if payload else None

    async def login(self, username: str, password: str) -> UserSession:
        async with self.http.post(
            self.base + "/api/auth/login",
            data=orjson.dumps({"username": username, "password": password}),
            headers={"Content-Type": "application/json"},
        ) as resp:
            if resp.status != 200:
                raise ApiError(f"login {username}: HTTP {resp.status}: {await resp.text()}")
            morsel = resp.cookies.get(SESSION_COOKIE)
            if morsel is None:
                raise ApiError(f"login {username}: no session cookie")
            return UserSession(username, morsel.value)

    async def create_conversation(
        self, user: UserSession, title: str | None = None, settings: dict[str, Any] | None = None
    ) -> str:
        body: dict[str, Any] = {}
        if title is not None:
            body["title"] = title
        if settings is not None:
            body["settings"] = settings
        created = await self._json("POST", "/api/conversations", user, body)
        return str(created["id"])

    async def fill_fresh(self, users: list[UserSession], per_user: int, parallel: int = 16) -> None:
        """Top up every user's stock of empty conversations to `per_user`."""
        semaphore = asyncio.Semaphore(parallel)

        async def one(user: UserSession) -> None:
            async with semaphore:
                user.fresh.append(await self.create_conversation(user))

        jobs = [one(u) for u in users for _ in range(max(0, per_user - len(u.fresh)))]
        await asyncio.gather(*jobs)

    async def ask(self, user: UserSession, conversation: str, content: str) -> bytes:
        """Send a message and read its whole stream (seeding)."""
        async with self.http.post(
            f"{self.base}/api/conversations/{conversation}/messages",
            data=orjson.dumps({"content": content}),
            headers={**user.headers, "Content-Type": "application/json"},
        ) as resp:
            body = await resp.read()
            if resp.status != 200 or b"event: error" in body:
                raise ApiError(f"ask: HTTP {resp.status}: {body[-300:]!r}")
            return body

    async def create_api_key(self, user: UserSession) -> str | None:
        """A personal API key for `/v1` (None when this ChatGate has no such route)."""
        try:
            created = await self._json("POST", "/api/account/keys", user, {"name": "bench"})
        except ApiError:
            return None
        key = created.get("key") if isinstance(created, dict) else None
        return str(key) if key else None

    async def list_conversations(self, user: UserSession, limit: int = 50) -> Any:
        return await self._json("GET", f"/api/conversations?limit={limit}", user)

    async def messages(self, user: UserSession, conversation: str) -> list[dict[str, Any]]:
        data = await self._json("GET", f"/api/conversations/{conversation}/messages", user)
        return list(data["messages"])

    async def timed(self, method: str, path: str, user: UserSession) -> tuple[float, int]:
        """Latency in seconds (to the last byte) and the status of one request."""
        started = time.perf_counter()
        async with self.http.request(method, self.base + path, headers=user.headers) as resp:
            await resp.read()
            return time.perf_counter() - started, resp.status

    async def probe(self, path: str, user: UserSession | None, body: Any) -> int:
        headers = dict(user.headers) if user else {}
        headers["Content-Type"] = "application/json"
        async with self.http.post(
            self.base + path, data=orjson.dumps(body), headers=headers
        ) as resp:
            await resp.read()
            return resp.status


def new_http(limit: int = 64) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, force_close=False),
        timeout=aiohttp.ClientTimeout(total=120),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
