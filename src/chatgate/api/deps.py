"""Dependencies as types: handlers declare `services: ServicesDep, user: CurrentUser`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chatgate.api.middleware import RAW_PEER_KEY, SESSION_COOKIE
from chatgate.errors import Forbidden, Unauthenticated
from chatgate.services.auth import Principal
from chatgate.services.container import Services
from chatgate.services.users import UserInfo


async def get_services(request: Request) -> Services:
    # async: a plain `def` dependency would cost a thread-pool hop on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


# Personal API keys authenticate the OpenAI-compatible routes and nothing else: under /api/ a key
# could otherwise mint keys, change the password or export everything.
KEY_ROUTES_PREFIX = "/v1/"
KEYS_ONLY_ON_V1 = (
    "API keys work only on the OpenAI-compatible /v1 routes; sign in to use the rest of the API."
)


def _bearer(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else None


def _route_path(request: Request) -> str:
    # The matched route's path template, not the URL: a mount prefix or an odd spelling of the
    # URL cannot make an /api/ route look like a /v1 one. No route (yet): no keys.
    path = getattr(request.scope.get("route"), "path", "")
    return path if isinstance(path, str) else ""


def _keys_allowed(request: Request) -> bool:
    return _route_path(request).startswith(KEY_ROUTES_PREFIX)


async def refuse_keys_under_api(request: Request) -> None:
    """On every route of the app: a request carrying `Authorization: Bearer` to a route under
    /api/ is refused, the public ones (sign-in, shared links) included, whatever else (a session
    cookie) comes along. Routes that need a user refuse keys outside /v1 in `get_principal`."""
    if _bearer(request) is not None and _route_path(request).startswith("/api/"):
        raise Unauthenticated(KEYS_ONLY_ON_V1)


async def get_principal(request: Request, services: ServicesDep) -> Principal:
    key = _bearer(request)
    if key is not None:
        # An API key; a wrong one is refused even if a session cookie came along.
        if not _keys_allowed(request):
            raise Unauthenticated(KEYS_ONLY_ON_V1)
        principal = await services.api_keys.resolve(key)
        if principal is None:
            raise Unauthenticated("The API key is not valid (revoked, or mistyped).")
        return principal
    header = services.settings.trusted_header
    if header:
        principal = await _from_trusted_header(request, services, header)
        if principal is not None:
            return principal
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        principal = await services.auth.resolve_session(token)
        if principal is not None:
            return principal
    raise Unauthenticated()


def raw_peer(request: Request) -> str | None:
    """The TCP peer's address as the connection had it, before any forwarded header was applied
    (`RawPeer` keeps it; `client_ip` is the forwarded one)."""
    peer = request.scope.get(RAW_PEER_KEY) or request.scope.get("client")
    return str(peer[0]) if peer else None


async def _from_trusted_header(
    request: Request, services: Services, header: str
) -> Principal | None:
    """An authenticating proxy's header names the user, when the TCP peer is that proxy; from
    any other peer the header is ignored (and logged, rate-limited)."""
    name = request.headers.get(header, "").strip()
    if not name:
        return None
    peer = raw_peer(request)
    if not services.sso.header_believed(peer):
        services.sso.header_ignored(peer, request.url.path)
        return None
    email_header = services.settings.trusted_header_email
    email = request.headers.get(email_header) if email_header else None
    return await services.sso.header_principal(name, email)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_user(principal: PrincipalDep) -> UserInfo:
    return principal.user


CurrentUser = Annotated[UserInfo, Depends(get_user)]


async def get_admin(user: CurrentUser) -> UserInfo:
    if not user.is_admin:
        raise Forbidden("Only administrators can do that.")
    return user


AdminUser = Annotated[UserInfo, Depends(get_admin)]


def client_ip(request: Request) -> str:
    # ProxyHeadersMiddleware has already replaced the peer with the forwarded address when (and
    # only when) the peer is a trusted proxy.
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")
