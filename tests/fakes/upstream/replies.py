"""The scenarios played on the wire: error answers, dialect replays, whole and streamed replies."""

from __future__ import annotations

import orjson

from tests.fakes._server import HttpRequest, response_head
from tests.fakes.upstream.anthropic_wire import ANTHROPIC
from tests.fakes.upstream.openai_wire import OPENAI, OpenAIWire
from tests.fakes.upstream.protocol import Exchange, WireProtocol
from tests.fakes.upstream.records import Json, RecordedRequest
from tests.fakes.upstream.scenarios import Scenario
from tests.fakes.upstream.tokens import split_tokens
from tests.fakes.upstream.wire import (
    AbortedError,
    ClientGoneError,
    Connection,
    SseWriter,
    split_for_wire,
)

__all__ = ["answer_error_scenario", "complete", "replay_dialect", "send_status", "stream"]

_HTML_ERROR = """<!DOCTYPE html>
<html>
<head><title>{status} Bad gateway</title></head>
<body>
<center><h1>{status} Bad gateway</h1></center>
<p>The upstream server returned an invalid response. Bad gateway.</p>
<hr><center>nginx</center>
</body>
</html>
"""

_CLOUDFLARE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow"></head>
<body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">chat.openai.com</h1>
<h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2>
<noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript>
<div id="challenge-body-text" class="core-msg spacer">chat.openai.com needs to review the
security of your connection before proceeding.</div></div></div>
<div class="footer" role="contentinfo"><div class="footer-inner">
<div class="text-center">Ray ID: <code>8a1b2c3d4e5f6a7b</code></div>
<div class="text-center">Performance &amp; security by Cloudflare</div></div></div>
</body></html>
"""


async def send_status(
    conn: Connection,
    request: HttpRequest,
    record: RecordedRequest,
    status: int,
    payload: Json,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    """A JSON answer with ``status``, noted in the record."""
    record.status = status
    await conn.send_json(status, payload, keep_alive=request.keep_alive, headers=headers)


async def answer_error_scenario(
    conn: Connection,
    request: HttpRequest,
    record: RecordedRequest,
    scenario: Scenario,
    proto: WireProtocol,
) -> bool:
    """Answer the scenarios that never produce a reply; True if it answered."""
    name, params = scenario.name, scenario.params
    if name == "hang":
        await conn.gone.wait()
        raise ClientGoneError
    if name == "rate_limited":
        status = int(params["status"])
        headers: list[tuple[str, str]] = []
        if params["retry_after"] is not None:
            headers.append(("Retry-After", str(params["retry_after"])))
        if proto is ANTHROPIC:
            headers.append(("anthropic-ratelimit-requests-remaining", "0"))
        else:
            headers.append(("x-ratelimit-remaining-requests", "0"))
        await send_status(conn, request, record, status, proto.error(status, ""), headers)
        return True
    if name in ("server_error", "auth_error"):
        status = int(params["status"])
        await send_status(conn, request, record, status, proto.error(status, ""))
        return True
    if name == "insufficient_quota":  # OpenAI's wording and codes for an unpaid account
        said = (
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        )
        error = {
            "error": {
                "message": said,
                "type": "insufficient_quota",
                "param": None,
                "code": "insufficient_quota",
            }
        }
        await send_status(conn, request, record, 429, error)
        return True
    if name == "echo_key":  # as OpenAI and Groq answer a wrong key: the key, verbatim
        status = int(params["status"])
        auth = request.headers.get("authorization", "")
        key = request.headers.get("x-api-key") or auth.removeprefix("Bearer ").strip()
        error = {
            "error": {
                "message": f"Incorrect API key provided: {key}",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        await send_status(conn, request, record, status, error)
        return True
    if name in ("html_error", "cloudflare_challenge"):
        status = int(params["status"])
        record.status = status
        headers = [("Content-Type", "text/html; charset=UTF-8")]
        if name == "html_error":
            page = _HTML_ERROR.format(status=status)
            headers.append(("Server", "nginx"))
        else:
            page = _CLOUDFLARE
            headers += [("Server", "cloudflare"), ("cf-mitigated", "challenge")]
            headers.append(("cf-ray", "8a1b2c3d4e5f6a7b-FRA"))
        await conn.send(status, headers, page.encode(), keep_alive=request.keep_alive)
        return True
    return False


async def replay_dialect(
    conn: Connection, request: HttpRequest, record: RecordedRequest, scenario: Scenario
) -> None:
    """The ``dialect`` scenario: a recorded transcript, as its service would send it."""
    from tests.fakes.dialects import DIALECTS, Seen  # loaded on first use

    name = str(scenario.params["name"])
    transcript = DIALECTS.get(name)
    if transcript is None:
        message = f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}"
        await send_status(conn, request, record, 500, {"error": {"message": message}})
        return
    seen = Seen.of(request.method, request.path, request.query, request.headers, record.json)
    refusal = transcript.refuse(seen)
    if refusal is not None:
        record.scenario = "bad_request"
        await send_status(conn, request, record, refusal[0], refusal[1])
        return
    record.status = transcript.http_status
    record.text_sent = transcript.text
    headers = list(transcript.headers)
    await conn.start_chunked(transcript.http_status, headers, keep_alive=request.keep_alive)
    sizes = tuple(scenario.params["chunk_sizes"] or ())
    pieces = split_for_wire(transcript.body, sizes) if sizes else transcript.events()
    for piece in pieces:
        await conn.chunk(piece)
        await conn.sleep(float(scenario.params["write_delay"]))
    await conn.end_chunked()


async def complete(ex: Exchange, proto: WireProtocol) -> None:
    """Non-streaming reply (OpenAI, Anthropic)."""
    conn, params, name = ex.conn, ex.scenario.params, ex.scenario.name
    if name == "stall_before_first_token":
        await conn.sleep(float(params["seconds"]))
    if name == "deepseek_reasoning" and proto is OPENAI:
        ex.reasoning = split_tokens(str(params["reasoning"]))
    for index, token in enumerate(ex.tokens):
        if name == "long_pause" and index == int(params["after_tokens"]):
            await conn.sleep(float(params["pause"]))
        await conn.sleep(ex.token_delay)
        ex.sent.append(token)
    if name == "error_mid_stream":
        ex.sent.clear()
        await send_status(conn, ex.request, ex.record, 500, proto.error(500, ""))
        return
    payload = proto.complete(ex)
    if name == "huge_line":
        payload["x_padding"] = "x" * int(params["size"])
    data = orjson.dumps(payload)
    ex.record.status = 200
    if name == "reset_mid_stream":
        head = response_head(
            200,
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        await conn.write(head + data[: len(data) // 2])
        ex.sent.clear()
        await conn.reset()
        raise AbortedError
    ex.record.tokens_sent = len(ex.sent)
    ex.record.text_sent = ex.text_so_far
    await conn.send(200, [("Content-Type", "application/json")], data, keep_alive=ex.keep_alive)


async def stream(ex: Exchange, proto: WireProtocol) -> None:
    """Streamed reply: SSE events token by token, with the scenario's pauses and faults."""
    conn, params, name, record = ex.conn, ex.scenario.params, ex.scenario.name, ex.record
    out = SseWriter(conn, ex.scenario)
    record.status = 200
    headers = [*proto.stream_headers, ("X-Request-Id", ex.id)]
    await conn.start_chunked(200, headers, keep_alive=ex.keep_alive)
    if name == "stall_before_first_token":
        await conn.sleep(float(params["seconds"]))
    if name == "deepseek_reasoning" and isinstance(proto, OpenAIWire):
        thoughts = split_tokens(str(params["reasoning"]))
        for index, event in enumerate(proto.reasoning_events(ex, thoughts)):
            if index:
                await conn.sleep(ex.token_delay)
                ex.reasoning.append(thoughts[index - 1])
            await out.send(event)
    for event in proto.start_events(ex):
        await out.send(event)
    after = int(params.get("after_tokens", 0))
    for index in range(len(ex.tokens) + 1):
        if index == after or (index == len(ex.tokens) and after > index):
            if name == "reset_mid_stream":
                await conn.reset()
                raise AbortedError
            if name == "error_mid_stream":
                await out.send(proto.error_event(ex))
                await conn.end_chunked()
                return
            if name == "invalid_json_line":
                await out.send(proto.invalid_event(ex))
            if name == "long_pause" and index < len(ex.tokens):
                await conn.sleep(float(params["pause"]))
        if index == len(ex.tokens):
            break
        if name == "empty_choices":
            empty = proto.empty_choices_event(ex)
            if empty is not None:
                await out.send(empty)
        await conn.sleep(ex.token_delay)
        token = ex.tokens[index]
        extra = {"x_padding": "x" * int(params["size"])} if name == "huge_line" else {}
        event = proto.token_event(ex, token, extra if index == 0 else {})
        conn.check()
        # Counted before the write, so a client that got the token sees it counted.
        ex.sent.append(token)
        record.tokens_sent = len(ex.sent)
        record.text_sent = ex.text_so_far
        await out.send(event)
    for event in proto.end_events(ex):
        await out.send(event)
    if name != "missing_done":
        done = proto.done_event(ex)
        if done is not None:
            await out.send(done)
            if name == "double_done":
                await out.send(done)
    await conn.end_chunked()
