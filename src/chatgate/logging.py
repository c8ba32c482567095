"""Structured logs (structlog): console lines in a terminal, JSON when asked; never secrets.

The standard library's loggers (uvicorn, SQLAlchemy, httpx) go through the same renderer.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

_SECRET_KEYS = re.compile(
    r"(authorization|cookie|password|secret|token|api[_-]?key|x-api-key)", re.I
)
_SECRET_VALUES = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+[A-Za-z0-9._\-]{6,}|://[^/@\s:]+:[^/@\s]+@)"
)


def _redact_value(value: str) -> str:
    def mask(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith("://"):
            return "://•••:•••@"
        return text[:3] + "•••"

    return _SECRET_VALUES.sub(mask, value)


def redact(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """Drop values under secret-looking keys and mask secret-looking strings anywhere."""
    for key, value in list(event.items()):
        if key != "event" and _SECRET_KEYS.search(key):
            event[key] = "•••"
        elif isinstance(value, str):
            event[key] = _redact_value(value)
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
    return structlog.processors.format_exc_info(logger, method, event)
