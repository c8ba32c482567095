"""Dependencies as types: handlers declare `services: ServicesDep, user: CurrentUser`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chatgate.api.middleware import SESSION_COOKIE
from chatgate.errors import Forbidden, Unauthenticated
from chatgate.services.auth import Principal
from chatgate.services.container import Services
from chatgate.services.users import UserInfo


async def get_services(request: Request) -> Services:
    # async: a plain `def` dependency would cost a thread-pool hop on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(request: Request, services: ServicesDep) -> Principal:
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        # An API key; a wrong one is refused even if a session cookie came along.
        principal = await services.api_keys.resolve(authorization[7:].strip())
        if principal is None:
            raise Unauthenticated("The API key is not valid (revoked, or mistyped).")
        return principal
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        principal = await services.auth.resolve_session(token)
        if principal is not None:
            return principal
    raise Unauthenticated()


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
