"""The ASGI application: routers, middleware, lifespan, and the built web app."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi.routing
from fastapi import Depends, FastAPI
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from chatgate import __version__
from chatgate.api import (
    account,
    admin,
    admin_prompts,
    admin_upstreams,
    attachments,
    auth,
    chat,
    chat_defaults,
    conversations,
    csp,
    errors,
    health,
    messages,
    models,
    openai_compat,
    profile,
    prompts,
    sso,
    transfer,
)
from chatgate.api.deps import refuse_keys_under_api
from chatgate.api.middleware import SERVER_SEND, BodyLimit, CsrfGuard, RawPeer, RequestContext
from chatgate.api.schemas import COMMON_ERRORS
from chatgate.config import Settings
from chatgate.services.avatars import MAX_UPLOAD_BYTES
from chatgate.services.container import Services

STATIC_DIR = Path(__file__).parent / "static"
# Paths the single-page app must never swallow: unknown API routes stay JSON 404s.
API_PREFIXES = ("/api/", "/v1/", "/healthz", "/readyz", "/openapi.json", "/docs")
# A streaming server makes many small objects that die young. With the defaults (700, 10, 10)
# and nothing frozen, 200 streams saw 10 young collections a second and a full one of 141 ms
# (a full collection walked all ~180,000 objects start-up made); frozen, with these thresholds,
# one young collection every ~2 s (p50 3 ms, max 13 ms) and a full one of ~3 ms. 50,000 would
# collect even less often but for ~30-40 ms at a time.
GC_THRESHOLDS = (10_000, 20, 100)


class SpaFiles(StaticFiles):
    """The built web app: real files as they are, every other page path gets index.html."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            # Starlette raises 404 for missing files; page paths (no file extension, outside the
            # API) are the app's own routes: /login, /c/<id>, /setup?token=…
            is_page = (
                not scope["path"].startswith(API_PREFIXES) and "." not in path.rsplit("/", 1)[-1]
            )
            if exc.status_code != 404 or not is_page:
                raise
            response = await super().get_response("index.html", scope)
        if scope["path"].startswith("/s/"):
            response.headers["x-robots-tag"] = "noindex, nofollow"  # shared links stay unlisted
        if path.startswith("assets/"):
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
        elif response.headers.get("content-type", "").startswith("text/html") or path.endswith(
            ("sw.js", ".webmanifest")
        ):
            response.headers["cache-control"] = "no-cache"
        return response


RUNNING_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ChatGate</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem">
<h1>ChatGate is running</h1>
<p>The web app has not been built into this installation. Run <code>make web</code> (or
<code>make run</code>, which builds it) and reload this page.</p>
<p>The HTTP API works: see <a href="/openapi.json">/openapi.json</a>.</p></body></html>"""


def compile_routes(app: FastAPI) -> None:
    """FastAPI builds each route's state (parameter models, dependency tree) on the first request
    that reaches its router: 0.15-0.25 s of CPU for all of ChatGate's, which the first request
    after a start paid (0.3 s on `/v1`). Built during start-up instead, before the server
    accepts (start to the first answered request: 1.1 -> 1.4 s)."""
    for context in iter_route_contexts(app.router.routes):
        endpoint = getattr(context.original_route, "endpoint", None)
        if endpoint is not None and endpoint.__module__ in QUESTION_PATH_MODULES:
            _locate_endpoint(endpoint)


# The routes a question goes through. FastAPI also looks up each endpoint's source file and line
# (for its error messages) on the endpoint's first call: `inspect.getsourcelines`, 0.2-0.9 ms per
# endpoint, 2.3 ms of the first `/v1` request. Done at start-up for these (6 ms in all); the
# other 76 routes would cost 0.3 s of start-up for requests nobody waits on.
QUESTION_PATH_MODULES = frozenset(
    {
        "chatgate.api.chat",
        "chatgate.api.conversations",
        "chatgate.api.messages",
        "chatgate.api.openai_compat",
    }
)


def _locate_endpoint(endpoint: Callable[..., Any]) -> None:
    # Private to FastAPI and so looked up with a fallback: without it, only the first call pays.
    locate = getattr(fastapi.routing, "_extract_endpoint_context", None)
    if locate is not None:
        locate(endpoint)


def tune_gc() -> tuple[int, ...]:
    """Once started: what start-up made and keeps (modules, routes, settings) is moved out of
    the collector's sight, so a full collection walks only what requests create, and the young
    generation is collected less often. Returns the thresholds it replaced."""
    previous = gc.get_threshold()
    gc.freeze()  # no gc.collect() first: it would cost ~0.1 s of start-up for little garbage
    gc.set_threshold(*GC_THRESHOLDS)
    return previous


class ChatGateApp(FastAPI):
    """FastAPI, keeping the server's own `send` in the scope for stream bodies (SERVER_SEND)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope[SERVER_SEND] = send
        try:
            await super().__call__(scope, receive, send)
        finally:
            # The server's send points back at its request cycle, which holds this scope.
            del scope[SERVER_SEND]


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    on_started: Callable[[Services], Awaitable[None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        compile_routes(app)  # before the tokenizer starts loading in a thread beside it
        started = services or await Services.start(settings)
        app.state.services = started
        if on_started is not None:
            await on_started(started)
        thresholds = tune_gc()
        try:
            yield
        finally:
            gc.unfreeze()  # what start-up made may become garbage now (and tests start many apps)
            gc.set_threshold(*thresholds)
            if services is None:
                await started.close(grace=settings.shutdown_grace_seconds)

    app = ChatGateApp(
        title="ChatGate",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url=None,
    )
    errors.install(app)
    routers = (
        health.router,
        auth.router,
        account.router,
        conversations.router,
        chat.router,
        csp.router,
        models.router,
        admin.router,
        openai_compat.router,
        transfer.router,
        messages.router,
        profile.router,
        chat_defaults.router,
        prompts.router,
        admin_prompts.router,
        admin_upstreams.router,
        sso.router,
        attachments.router,
    )
    for router in routers:
        # API keys authenticate /v1 only: any route under /api/ refuses them before anything runs.
        app.include_router(
            router, responses=COMMON_ERRORS, dependencies=[Depends(refuse_keys_under_api)]
        )

    if (STATIC_DIR / "index.html").is_file():
        app.mount("/", SpaFiles(directory=STATIC_DIR, html=True), name="web")
    else:

        @app.get("/", include_in_schema=False, response_class=HTMLResponse)
        async def running() -> HTMLResponse:
            return HTMLResponse(RUNNING_PAGE)

    # Added innermost first: requests meet RawPeer, ProxyHeaders, RequestContext, BodyLimit,
    # CsrfGuard.
    app.add_middleware(
        CsrfGuard, public_origin=settings.public_url, trusted_header=settings.trusted_header
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        overrides=[
            ("/api/import", settings.max_import_bytes),
            (
                attachments.UPLOADS,
                max(
                    settings.max_body_bytes,
                    settings.attachment_max_bytes + attachments.FORM_OVERHEAD,
                ),
            ),
            (profile.OWN_AVATAR, max(settings.max_body_bytes, MAX_UPLOAD_BYTES)),
            # Images inline as base64 data URLs.
            (openai_compat.COMPLETIONS, max(settings.max_body_bytes, openai_compat.MAX_BODY)),
        ],
    )
    app.add_middleware(RequestContext)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(RawPeer)
    return app
