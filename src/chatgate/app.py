"""The ASGI application: routers, middleware, lifespan, and the built web app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from chatgate import __version__
from chatgate.api import (
    account,
    admin,
    admin_prompts,
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
    transfer,
)
from chatgate.api.deps import refuse_keys_under_api
from chatgate.api.middleware import BodyLimit, CsrfGuard, RequestContext
from chatgate.api.schemas import COMMON_ERRORS
from chatgate.config import Settings
from chatgate.services.avatars import MAX_UPLOAD_BYTES
from chatgate.services.container import Services

STATIC_DIR = Path(__file__).parent / "static"
# Paths the single-page app must never swallow: unknown API routes stay JSON 404s.
API_PREFIXES = ("/api/", "/v1/", "/healthz", "/readyz", "/openapi.json", "/docs")


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


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    on_started: Callable[[Services], Awaitable[None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = services or await Services.start(settings)
        app.state.services = started
        if on_started is not None:
            await on_started(started)
        try:
            yield
        finally:
            if services is None:
                await started.close(grace=settings.shutdown_grace_seconds)

    app = FastAPI(
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

    # Added innermost first: requests meet ProxyHeaders, RequestContext, BodyLimit, CsrfGuard.
    app.add_middleware(CsrfGuard, public_origin=settings.public_url)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        overrides=[
            ("/api/import", settings.max_import_bytes),
            (profile.OWN_AVATAR, max(settings.max_body_bytes, MAX_UPLOAD_BYTES)),
        ],
    )
    app.add_middleware(RequestContext)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app
