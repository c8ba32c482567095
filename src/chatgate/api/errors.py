"""The one place where exceptions become HTTP responses: `{"error": {"code", "message"}}`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Route

from chatgate.api.middleware import error_response_parts
from chatgate.errors import (
    BadRequest,
    ChatGateError,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)

log = structlog.get_logger(__name__)

_BY_STATUS: dict[int, type[ChatGateError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
}


def error_response(error: ChatGateError) -> Response:
    status, headers, body = error_response_parts(error)
    response = Response(content=body, status_code=status, media_type="application/json")
    for key, value in headers:
        if key not in (b"content-type", b"content-length"):
            response.headers[key.decode()] = value.decode()
    return response


def _validation_fields(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the submitted values back: they may be passwords.
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "message": str(error.get("msg", "invalid")),
        }
        for error in exc.errors()[:20]
    ]


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> set[str]:
    """Every method some route accepts at `path` (OPTIONS answers with them, as does a 405)."""
    found: set[str] = set()
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            if path.startswith(prefix):
                found |= allowed_methods(included.routes, path[len(prefix) :] or "/")
        elif isinstance(route, Route) and route.methods and route.path_regex.match(path):
            found |= route.methods
    return found


def install(app: FastAPI) -> None:
    @app.exception_handler(ChatGateError)
    async def _domain(_request: Request, exc: ChatGateError) -> Response:
        if exc.status >= 500:
            log.warning("request failed", code=exc.code, error=exc.message)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            return error_response(BadRequest("The request body is not valid JSON."))
        fields = _validation_fields(exc)
        if any(f["loc"][:1] == ["body"] and len(f["loc"]) == 1 for f in fields):
            message = "The request body must be a JSON object of the documented shape."
        else:
            first = fields[0] if fields else {"loc": [], "message": "invalid"}
            message = f"{'.'.join(first['loc'][1:]) or 'request'}: {first['message']}"
        return error_response(ValidationFailed(message, extra={"fields": fields}))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # The web app's catch-all answers for every path it does not know, so the header
            # the router gives ("GET, HEAD") is not what this address accepts: work it out.
            allowed = allowed_methods(request.app.router.routes, request.url.path)
            allow = ", ".join(sorted((allowed or {"GET", "HEAD"}) | {"OPTIONS"}))
            headers["Allow"] = allow
            if request.method == "OPTIONS":
                return Response(status_code=204, headers={"Allow": allow})
        # Only documented codes (docs/api.md): a status without its own class keeps its number
        # under the general code of its range.
        kind = _BY_STATUS.get(exc.status_code) or (
            ChatGateError if exc.status_code >= 500 else BadRequest
        )
        message = "The request body is not valid JSON." if exc.status_code == 400 else None
        response = error_response(kind(message))
        response.status_code = exc.status_code
        for key, value in headers.items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return error_response(ChatGateError())
