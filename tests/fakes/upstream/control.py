"""The HTTP control plane under ``/__control/``, for a fake run as its own process.

``GET requests`` (every recorded request), ``GET health``, ``POST scenario`` (``{"name", ...params,
"models": true}`` for the model list), ``POST queue`` (``{"names": [...]}``), ``POST reset`` and
``POST config`` (``reply``, ``token_delay``, ``models``, ``valid_keys``, ``strict_conversations``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from tests.fakes._server import HttpRequest
from tests.fakes.upstream.records import Json
from tests.fakes.upstream.wire import Connection

if TYPE_CHECKING:
    from tests.fakes.upstream.server import FakeUpstream

__all__ = ["configure", "serve_control"]


async def serve_control(fake: FakeUpstream, conn: Connection, request: HttpRequest) -> None:
    """Answer one ``/__control/`` request."""
    action = request.path.removeprefix("/__control/").strip("/")
    keep = request.keep_alive
    try:
        body: Json = orjson.loads(request.body) if request.body else {}
        if request.method == "GET" and action == "requests":
            await conn.send_json(200, [r.to_dict() for r in fake.requests], keep_alive=keep)
            return
        if request.method == "GET" and action == "health":
            await conn.send_json(200, {"ok": True, "url": fake.base_url}, keep_alive=keep)
            return
        if request.method != "POST" or not isinstance(body, dict):
            raise ValueError(f"unknown control request {request.method} {request.path}")
        if action == "scenario":
            params = dict(body)
            name = str(params.pop("name"))
            if params.pop("models", False):
                fake.set_models_scenario(name, **params)
            else:
                fake.set_scenario(name, **params)
        elif action == "queue":
            fake.queue(*body.get("names", []))
        elif action == "reset":
            fake.reset()
        elif action == "config":
            configure(fake, body)
        else:
            raise ValueError(f"unknown control action {action!r}")
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        await conn.send_json(400, {"error": str(exc)}, keep_alive=keep)
        return
    await conn.send_json(
        200,
        {"ok": True, "scenario": fake.scenario.to_dict(), "queued": len(fake.queued)},
        keep_alive=keep,
    )


def configure(fake: FakeUpstream, body: dict[str, Any]) -> None:
    """``POST /__control/config``: change the reply, delay, models, keys or conversation checks."""
    if "reply" in body:
        fake.reply = body["reply"] if isinstance(body["reply"], str) else list(body["reply"])
    if "token_delay" in body:
        fake.token_delay = float(body["token_delay"])
    if "models" in body:
        fake.models = [str(m) for m in body["models"]]
    if "valid_keys" in body:
        keys = body["valid_keys"]
        fake.valid_keys = None if keys is None else {str(k) for k in keys}
    if "strict_conversations" in body:
        fake.strict_conversations = bool(body["strict_conversations"])
