"""Structured logs (structlog): console lines in a terminal, JSON when asked; never secrets.

The standard library's loggers (uvicorn, SQLAlchemy, httpx) go through the same renderer.
Every string in a log line, tracebacks included, passes `chatgate.security.redaction`: each
configured secret is masked by its value, whatever its shape, and so is anything shaped like a key.
Values under secret-sounding names (`password=`, `api_key=`…) are dropped whole.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

from chatgate.security import redaction

_SECRET_KEYS = re.compile(
    r"(authorization|cookie|password|secret|token(?!s)|api[_-]?key|x-api-key)", re.I
)
_PLAIN = (int, float, bool, type(None))


def _text(value: str) -> str:
    # ChatGate's own ids are 32 hex digits and log lines are full of them: long hex runs stay.
    # A configured key is masked by its value whatever its shape, and upstream text was redacted
    # with hex runs when its error was made (chatgate.errors.UpstreamError).
    return redaction.redact(value, hex_runs=False)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    # Anything else is rendered with str() (an exception, a URL object…): redact that text.
    return _text(str(value))


def redact(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """Drop values under secret-looking keys and mask secrets (by value and by shape) anywhere."""
    for key, value in list(event.items()):
        if key != "event" and _SECRET_KEYS.search(key):
            event[key] = "•••"
        elif key in ("exc_info", "stack_info", "_record", "_from_structlog"):
            continue
        else:
            event[key] = _clean(value)
    return event


def configure(level: str = "info", fmt: str = "console") -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # Plain tracebacks: rich ones print local variables, which may hold keys and passwords.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _format_exc,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log duplicates ours (which carries the request id).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _format_exc(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
    """Tracebacks as text, redacted: exception messages may quote URLs and upstream bodies."""
    event = structlog.processors.format_exc_info(logger, method, event)
    for key in ("exception", "stack"):
        if isinstance(event.get(key), str):
            event[key] = _text(event[key])
    return event
