"""Redaction: every configured secret by its value, plus the shapes of keys nobody configured."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import structlog

from chatgate import logging as chatgate_logging
from chatgate.config import Settings
from chatgate.errors import UpstreamError
from chatgate.providers.errors import error_from_response, redact
from chatgate.security import redaction

GROQ = "gsk_Rk3vN8qLx2TzW7yHc4Jm9PbQ5sDf6GhA1eUo0iYt"
HEX = "d63e9ef033fb0fd296e19a8ce1d793f4"
ANTHROPIC = "sk-ant-api03-Qw3rTy-UiOp4sDf5gHjK6lZx7cVb8nM9"
SHAPELESS = "Zq9.odd~Shape_key-4711"
PROXY_PASSWORD = "pr0xy-Pa55word"
DB_PASSWORD = "db-Pa55word-xyz"
ACCESS_PASSWORD = "the shared access password"
GLOBAL_PROXY_PASSWORD = "gl0bal%40proxy"  # percent-encoded in the URL: "gl0bal@proxy"
REDIS_PASSWORD = "redis-Pa55word"


@pytest.fixture(scope="module", autouse=True)
def _configured(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=f"postgresql+psycopg://chat:{DB_PASSWORD}@db.internal/chat",
        access_password=ACCESS_PASSWORD,
        proxy=f"http://me:{GLOBAL_PROXY_PASSWORD}@proxy.internal:3128",
        redis_url=f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0",
        providers=[
            {
                "name": "groq",
                "kind": "openai",
                "base_url": "https://api.groq.com/openai/v1",
                "models": ["llama"],
                "credentials": [
                    {"api_key": GROQ, "proxy": f"socks5h://me:{PROXY_PASSWORD}@127.0.0.1:1080"},
                    {"api_key": HEX},
                    {"api_key": SHAPELESS},
                ],
            },
            {
                "name": "an",
                "kind": "anthropic",
                "models": ["claude"],
                "credentials": [{"api_key": ANTHROPIC}, {"api_key": "ollama"}],
            },
        ],
    )
    redaction.register_secrets_from(settings)


@pytest.mark.parametrize(
    "secret",
    [
        GROQ,
        HEX,
        ANTHROPIC,
        SHAPELESS,
        PROXY_PASSWORD,
        DB_PASSWORD,
        ACCESS_PASSWORD,
        GLOBAL_PROXY_PASSWORD,
        "gl0bal@proxy",
        REDIS_PASSWORD,
    ],
)
def test_configured_secrets_are_masked_by_value_wherever_they_are(secret: str) -> None:
    for text in (
        f"Incorrect API key provided: {secret}",
        f"{secret}",
        f'{{"error": {{"message": "bad key {secret}."}}}}',
        f"prefix{secret}suffix",  # glued to other text: a shape would miss it, the value does not
    ):
        cleaned = redact(text)
        assert secret not in cleaned
        assert "•••" in cleaned


def test_a_proxy_url_gives_away_only_its_password() -> None:
    # The URL around the password stays readable in logs (which proxy, which host).
    assert redact("via http://proxy.internal:3128") == "via http://proxy.internal:3128"


def test_short_values_are_not_treated_as_secrets() -> None:
    # "ollama" is Ollama's documented dummy key: masking it would garble model names.
    assert redact("model ollama/llama3 failed") == "model ollama/llama3 failed"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Incorrect API key provided: sk-proj-AbCdEf123456", "Incorrect API key provided: sk-•••"),
        ("key sk-ant-api03-unknownKEY-12345678 refused", "key sk-ant-••• refused"),
        ("Invalid API Key gsk_unknownunknown123", "Invalid API Key gsk_•••"),
        ("API key not valid: AIzaSyA-unknown_unknown_0123456", "API key not valid: AIza•••"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer •••"),
        ("api-key: 0a1b2c3d4e5f", "api-key: •••"),
        ("GET /v1/models?key=abc123 403", "GET /v1/models?key=••• 403"),
        (
            "proxy socks5://bob:hunter2@10.0.0.1:1080 refused",
            "proxy socks5://bob:•••@10.0.0.1:1080 refused",
        ),
        ("token deadbeefdeadbeefdeadbeefdeadbeef01", "token •••"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "jwt •••"),
    ],
)
def test_key_shapes_nobody_configured_are_masked(text: str, kept: str) -> None:
    assert redact(text) == kept


@pytest.mark.parametrize(
    "text",
    [
        "a task-based approach",  # "sk-" inside a word
        "the monkey: a primate",
        "conversation 0190f3c2a4b5 not found",  # short hex
        "HTTP 401 from https://api.example.com/v1/chat/completions",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_long_hex_runs_can_be_kept_for_ids() -> None:
    chatgate_id = "0190f3c2a4b5" + "ab" * 10
    assert (
        redaction.redact(f"generation {chatgate_id}", hex_runs=False) == f"generation {chatgate_id}"
    )
    assert HEX not in redaction.redact(f"key {HEX}", hex_runs=False)  # a configured one still goes


def test_upstream_errors_are_redacted_when_made() -> None:
    error = UpstreamError(f"The AI service refused the request: {SHAPELESS}", detail=f"x {GROQ}")
    assert SHAPELESS not in error.message and GROQ not in error.detail
    body = f'{{"error": {{"message": "Incorrect API key provided: {HEX}"}}}}'.encode()
    refused = error_from_response("groq", 400, {"content-type": "application/json"}, body)
    assert HEX not in refused.message + refused.detail
    assert "Incorrect API key provided" in refused.message


def test_log_lines_are_redacted(tmp_path: Path) -> None:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        chatgate_logging.configure("debug", "json")
        structlog.configure(cache_logger_on_first_use=False)  # leave no cached logger behind
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        log = structlog.get_logger("test.redaction")
        log.warning("upstream said", detail=f"Incorrect API key provided: {ANTHROPIC}")
        log.info(f"stdlib-style message with {SHAPELESS}", headers={"x": [GROQ]})
        logging.getLogger("uvicorn.error").warning(
            "connecting through %s", f"http://u:{PROXY_PASSWORD}@h"
        )
        try:
            raise RuntimeError(f"boom {HEX}")
        except RuntimeError:
            log.exception("crashed")
        log.info("ids stay readable", generation="0190f3c2a4b5" + "ab" * 10, tokens_out=12)
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)
    output = stream.getvalue()
    for secret in (ANTHROPIC, SHAPELESS, GROQ, PROXY_PASSWORD, HEX):
        assert secret not in output
    assert "Incorrect API key provided" in output and "boom" in output
    assert "0190f3c2a4b5" + "ab" * 10 in output and '"tokens_out": 12' in output
