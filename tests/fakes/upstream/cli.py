"""``python -m tests.fakes.upstream``: the fake as a foreground server (the web end-to-end suite
starts it so). Prints its URL, serves the control plane under ``/__control/`` and exits on
SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

import orjson

from tests.fakes.upstream.scenarios import SCENARIOS, Scenario
from tests.fakes.upstream.server import FakeUpstream

__all__ = ["main"]


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, orjson.loads(value)
    except orjson.JSONDecodeError:
        return key, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.upstream",
        description="Fake OpenAI / Anthropic / ChatGPT-web upstream (control plane: /__control/).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument("--scenario", default="normal", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--param", action="append", default=[], type=_parse_param, help="scenario KEY=VALUE"
    )
    parser.add_argument("--reply", default="Hello 你好 🌍 world")
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--models", default="fake-model,fake-model-2", help="comma-separated")
    parser.add_argument("--valid-key", action="append", default=None, dest="valid_keys")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (self-signed)")
    args = parser.parse_args(argv)
    fake = FakeUpstream(
        reply=args.reply,
        token_delay=args.token_delay,
        models=[m for m in args.models.split(",") if m],
        valid_keys=args.valid_keys,
        scenario=Scenario(args.scenario, **dict(args.param)),
        host=args.host,
        port=args.port,
        tls=args.tls,
    )
    asyncio.run(fake.serve_foreground(on_ready=lambda: print(fake.base_url, flush=True)))
    return 0
