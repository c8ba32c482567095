"""The fake upstream's server: routing by path, API keys, the one-at-a-time rule and the
conversation chain of ChatGPT web, the scenario queue and the record of every request."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from tests.fakes._server import (
    BadRequestError,
    HttpRequest,
    ThreadedServer,
    await_until,
    ssl_client_context,
    ssl_server_context,
    wait_until,
)
from tests.fakes.upstream.anthropic_wire import ANTHROPIC
from tests.fakes.upstream.chatgpt_web_wire import BUSY_DETAIL, CHATGPT_WEB
from tests.fakes.upstream.control import serve_control
from tests.fakes.upstream.ollama_wire import ollama_tags
from tests.fakes.upstream.openai_wire import DEEPSEEK_REASONING_SENT_BACK, OPENAI
from tests.fakes.upstream.protocol import Exchange, WireProtocol
from tests.fakes.upstream.records import ChatGptTurn, Json, RecordedRequest
from tests.fakes.upstream.replies import (
    answer_error_scenario,
    complete,
    replay_dialect,
    send_status,
    stream,
)
from tests.fakes.upstream.scenarios import Scenario
from tests.fakes.upstream.tokens import count_prompt_tokens, split_tokens
from tests.fakes.upstream.wire import AbortedError, ClientGoneError, Connection

__all__ = ["FakeUpstream", "Reply"]

Reply = str | Sequence[str] | Callable[[Json], str | Sequence[str]]


class FakeUpstream(ThreadedServer):
    """Fake OpenAI-compatible / Anthropic / ChatGPT-web upstream on a real loopback socket.

    All options are keyword-only. ``valid_keys``: when not None, a request whose API key
    (OpenAI ``Authorization: Bearer``, Anthropic ``x-api-key`` or Bearer, ChatGPT web Bearer
    access token) is not in the set gets 401 in the provider's error shape.
    """

    def __init__(
        self,
        *,
        reply: Reply = "Hello 你好 🌍 world",
        token_delay: float = 0.0,
        models: Sequence[str] = ("fake-model", "fake-model-2"),
        valid_keys: Iterable[str] | None = None,
        scenario: str | Scenario = "normal",
        strict_conversations: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
    ) -> None:
        super().__init__(host=host, port=port, ssl_context=ssl_server_context() if tls else None)
        self.tls = tls
        self.reply: Reply = reply
        self.token_delay = token_delay
        self.models: list[str] = list(models)
        self.valid_keys: set[str] | None = set(valid_keys) if valid_keys is not None else None
        self.strict_conversations = strict_conversations
        self.conversations: dict[str, list[ChatGptTurn]] = {}
        self._lock = threading.Lock()
        self._default = Scenario.coerce(scenario)
        self._models_scenario = Scenario("normal")
        self._queue: list[Scenario] = []
        self._records: list[RecordedRequest] = []
        self._in_flight: set[str] = set()

    # -- public API ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.netloc}"

    @property
    def ssl_client_context(self) -> ssl.SSLContext:
        """Client SSL context trusting this fake's certificate (``tls=True`` only)."""
        return ssl_client_context()

    def set_scenario(self, name: str | Scenario, /, **params: Any) -> None:
        """Set the default scenario used when the queue is empty."""
        scenario = Scenario.coerce(name) if not params else Scenario(str(name), **params)
        with self._lock:
            self._default = scenario

    def set_models_scenario(self, name: str | Scenario, /, **params: Any) -> None:
        """Scenario for ``GET /v1/models`` (normal, slow, stall_*, hang and the error ones)."""
        scenario = Scenario.coerce(name) if not params else Scenario(str(name), **params)
        with self._lock:
            self._models_scenario = scenario

    def queue(self, *names: str | Scenario | dict[str, Any]) -> None:
        """Queue one-shot scenarios, consumed in order by the next generation requests."""
        scenarios = [Scenario.coerce(name) for name in names]
        with self._lock:
            self._queue.extend(scenarios)

    @property
    def scenario(self) -> Scenario:
        return self._default

    @property
    def queued(self) -> list[Scenario]:
        with self._lock:
            return list(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._records)

    def calls(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    def reset(self) -> None:
        """Forget records, queue and conversations; back to the ``normal`` scenario."""
        with self._lock:
            self._records.clear()
            self._queue.clear()
            self._default = Scenario("normal")
            self._models_scenario = Scenario("normal")
            self.conversations.clear()

    def wait_for(self, predicate: Callable[[FakeUpstream], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate(self)`` holds (sync tests)."""
        wait_until(lambda: predicate(self), timeout)

    async def await_for(
        self, predicate: Callable[[FakeUpstream], bool], timeout: float = 5.0
    ) -> None:
        """Wait until ``predicate(self)`` holds without blocking the caller's event loop."""
        await await_until(lambda: predicate(self), timeout)

    # -- internals ---------------------------------------------------------------------------
    def _next_scenario(self) -> Scenario:
        with self._lock:
            return self._queue.pop(0) if self._queue else self._default

    def _tokens_for(self, body: Json) -> list[str]:
        reply = self.reply
        value = reply(body) if callable(reply) else reply
        if isinstance(value, str):
            return split_tokens(value)
        return [str(token) for token in value]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        try:
            while True:
                try:
                    request = await conn.input.read_request()
                except BadRequestError as exc:
                    await conn.send_json(400, {"error": str(exc)}, keep_alive=False)
                    return
                if request is None:
                    return
                keep_alive = await self._serve(conn, request)
                if not keep_alive or conn.aborted or conn.gone.is_set():
                    return
        finally:
            await conn.unwatch()

    async def _serve(self, conn: Connection, request: HttpRequest) -> bool:
        if request.path.startswith("/__control/"):
            await serve_control(self, conn, request)
            return request.keep_alive
        body: Json = None
        if request.body:
            try:
                body = orjson.loads(request.body)
            except orjson.JSONDecodeError:
                body = None
        path = request.path.rstrip("/") or "/"
        protocol = "unknown"
        if request.method == "GET" and path in ("/v1/models", "/models"):
            protocol = "models"
        elif request.method == "GET" and path == "/api/tags":
            protocol = "ollama_tags"
        elif request.method == "POST" and path.endswith("/chat/completions"):
            protocol = "openai"
        elif request.method == "POST" and path == "/v1/messages":
            protocol = "anthropic"
        elif request.method == "POST" and path in (
            "/backend-api/conversation",
            "/api/conversation",
            "/conversation",
        ):
            protocol = "chatgpt_web"
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=dict(request.headers),
            json=body,
            body=request.body,
            received_at=time.monotonic(),
            protocol=protocol,
        )
        with self._lock:
            self._records.append(record)

        def finished() -> None:
            record.finished_at = time.monotonic()

        conn.on_finish(finished)
        conn.watch()
        try:
            if protocol == "models":
                await self._models(conn, request, record)
            elif protocol == "ollama_tags":
                await send_status(conn, request, record, 200, ollama_tags(self.models))
            elif protocol in ("openai", "anthropic", "chatgpt_web"):
                await self._generate(conn, request, record, protocol)
            else:
                record.scenario = "not_found"
                await send_status(conn, request, record, 404, {"error": "not found"})
        except ClientGoneError:
            record.closed_by_client_at = conn.gone_at or time.monotonic()
            return False
        except AbortedError:
            return False
        finally:
            conn.finish()
            await conn.unwatch()
        return request.keep_alive

    @staticmethod
    def _api_key(request: HttpRequest, protocol: str) -> str:
        auth = request.headers.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if protocol in ("anthropic", "models"):
            return request.headers.get("x-api-key") or bearer
        return bearer

    async def _models(
        self, conn: Connection, request: HttpRequest, record: RecordedRequest
    ) -> None:
        anthropic = "x-api-key" in request.headers or "anthropic-version" in request.headers
        proto: WireProtocol = ANTHROPIC if anthropic else OPENAI
        if self.valid_keys is not None and self._api_key(request, "models") not in self.valid_keys:
            record.scenario = "invalid_key"
            await send_status(conn, request, record, 401, proto.error(401, ""))
            return
        with self._lock:
            scenario = self._models_scenario
        record.scenario = scenario.name
        if await answer_error_scenario(conn, request, record, scenario, proto):
            return
        if scenario.name == "stall_before_first_token":
            await conn.sleep(float(scenario.params["seconds"]))
        await conn.sleep(float(scenario.params.get("token_delay") or 0.0))
        payload = proto.model_list(self.models)
        await send_status(conn, request, record, 200, payload)

    async def _generate(
        self,
        conn: Connection,
        request: HttpRequest,
        record: RecordedRequest,
        protocol: str,
    ) -> None:
        proto: WireProtocol = {"openai": OPENAI, "anthropic": ANTHROPIC}.get(protocol, CHATGPT_WEB)
        key = self._api_key(request, protocol)
        if self.valid_keys is not None and key not in self.valid_keys:
            record.scenario = "invalid_key"
            await send_status(conn, request, record, 401, proto.error(401, ""))
            return
        body = record.json
        problem = proto.validate(body)
        if problem:
            record.scenario = "bad_request"
            await send_status(conn, request, record, 400, proto.error(400, problem))
            return
        assert isinstance(body, dict)
        record.prompt_tokens = count_prompt_tokens(protocol, body)
        record.stream = protocol == "chatgpt_web" or bool(body.get("stream"))
        if protocol != "chatgpt_web":
            await self._run(conn, request, record, proto, body)
            return
        # ChatGPT web: one in-flight request per access token, conversation chain.
        if key in self._in_flight:
            record.scenario = "busy"
            await send_status(conn, request, record, 429, {"detail": BUSY_DETAIL})
            return
        problem = self._check_conversation(body)
        if problem:
            record.scenario = "not_found"
            await send_status(conn, request, record, 404, {"detail": problem})
            return
        self._in_flight.add(key)
        conn.on_finish(lambda: self._in_flight.discard(key))  # free once the reply ends
        try:
            await self._run(conn, request, record, proto, body)
        finally:
            self._in_flight.discard(key)

    def _check_conversation(self, body: dict[str, Any]) -> str:
        conversation_id = body.get("conversation_id")
        if not conversation_id or not self.strict_conversations:
            return ""
        turns = self.conversations.get(str(conversation_id))
        if turns is None:
            return f"Can't load conversation {conversation_id}"
        known = {t.user_message_id for t in turns} | {t.assistant_message_id for t in turns}
        if body.get("parent_message_id") not in known:
            return f"Parent message {body.get('parent_message_id')} not found"
        return ""

    async def _run(
        self,
        conn: Connection,
        request: HttpRequest,
        record: RecordedRequest,
        proto: WireProtocol,
        body: dict[str, Any],
    ) -> None:
        scenario = self._next_scenario()
        record.scenario = scenario.name
        if await answer_error_scenario(conn, request, record, scenario, proto):
            return
        if scenario.name == "dialect":
            await replay_dialect(conn, request, record, scenario)
            return
        if (
            scenario.name == "deepseek_reasoning"
            and proto is OPENAI
            and any(isinstance(m, dict) and "reasoning_content" in m for m in body["messages"])
        ):
            record.scenario = "bad_request"
            error = proto.error(400, DEEPSEEK_REASONING_SENT_BACK)
            error["error"]["code"] = "invalid_request_error"
            await send_status(conn, request, record, 400, error)
            return
        if scenario.name == "tool_calls":
            tokens = split_tokens(str(scenario.params["text"]))
        else:
            tokens = self._tokens_for(body)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish_length = False
        if isinstance(limit, int) and proto is not CHATGPT_WEB and 0 <= limit < len(tokens):
            tokens, finish_length = tokens[:limit], True
        delay = scenario.params.get("token_delay")
        stream_options = body.get("stream_options")
        ex = Exchange(
            conn=conn,
            request=request,
            record=record,
            body=body,
            scenario=scenario,
            tokens=tokens,
            finish_length=finish_length,
            model=str(body.get("model") or (self.models[0] if self.models else "fake-model")),
            token_delay=float(self.token_delay if delay is None else delay),
            keep_alive=request.keep_alive,
            include_usage=isinstance(stream_options, dict)
            and bool(stream_options.get("include_usage")),
        )
        if scenario.name == "tool_calls":
            ex.calls = [dict(call) for call in scenario.params["calls"]]
            ex.piece = max(1, int(scenario.params["piece"]))
        if proto is CHATGPT_WEB:
            self._register_turn(ex)
        if record.stream:
            await stream(ex, proto)
        else:
            await complete(ex, proto)

    def _register_turn(self, ex: Exchange) -> None:
        body = ex.body
        last = body["messages"][-1]
        user_id = str(last.get("id") or uuid.uuid4())
        parent = body.get("parent_message_id")
        conversation_id = str(body.get("conversation_id") or uuid.uuid4())
        ex.user_message_id = user_id
        ex.record.user_message_id = user_id
        ex.record.parent_message_id = str(parent) if parent is not None else None
        ex.record.conversation_id = conversation_id
        ex.record.message_id = str(uuid.uuid4())
        turn = ChatGptTurn(user_id, ex.record.parent_message_id, ex.record.message_id)
        self.conversations.setdefault(conversation_id, []).append(turn)
