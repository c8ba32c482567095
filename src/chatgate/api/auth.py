"""Sign-in routes for the three modes (accounts, shared password, open)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from chatgate import __version__
from chatgate.api.deps import CurrentUser, PrincipalDep, ServicesDep, client_ip, user_agent
from chatgate.api.middleware import SESSION_COOKIE
from chatgate.api.schemas import (
    AuthConfigOut,
    LoginIn,
    PasswordChangeIn,
    PendingOut,
    RegisterIn,
    SetupIn,
    SignedOutOut,
    SsoProviderOut,
    UserOut,
)
from chatgate.config import AuthMode, Settings
from chatgate.errors import ValidationFailed
from chatgate.services.auth import ANONYMOUS_SESSION_DAYS
from chatgate.services.users import UserInfo

router = APIRouter(prefix="/api/auth", tags=["auth"])


def set_session_cookie(
    response: Response, request: Request, settings: Settings, token: str, user: UserInfo
) -> None:
    secure = settings.cookie_secure == "always" or (
        settings.cookie_secure == "auto" and request.url.scheme == "https"
    )
    days = ANONYMOUS_SESSION_DAYS if user.is_anonymous else settings.session_days
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


@router.get("/config", response_model=AuthConfigOut)
async def auth_config(services: ServicesDep) -> AuthConfigOut:
    settings = services.settings
    return AuthConfigOut(
        mode=settings.auth_mode.value,
        registration=services.site_settings.registration.value,
        setup_required=await services.users.needs_setup(),
        version=__version__,
        announcement=services.site_settings.announcement,
        sso=[
            SsoProviderOut(
                name=name, label=client.config.label, start_url=f"/api/auth/oidc/{name}/start"
            )
            for name, client in services.sso.clients.items()
        ],
        local_passwords=settings.local_passwords,
    )


@router.post("/setup", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def setup(
    body: SetupIn, request: Request, response: Response, services: ServicesDep
) -> UserOut:
    """Create the first administrator with the one-time link printed at startup."""
    user, token = await services.auth.complete_setup(
        body.token,
        body.username,
        body.password,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    set_session_cookie(response, request, services.settings, token, user)
    return UserOut.model_validate(user)


@router.post("/login", response_model=UserOut)
async def login(
    body: LoginIn, request: Request, response: Response, services: ServicesDep
) -> UserOut:
    """Accounts: username + password. Password mode: the shared password. Open mode: nothing."""
    ip, agent = client_ip(request), user_agent(request)
    mode, current = services.settings.auth_mode, request.cookies.get(SESSION_COOKIE)
    if body.username is not None:
        # Named accounts (administrators, at least) can sign in whatever the mode.
        user, token = await services.auth.login(
            body.username, body.password or "", ip=ip, user_agent=agent
        )
    elif mode is AuthMode.password:
        # A browser that still has its guest session keeps that guest, and its quota.
        user, token = await services.auth.login_with_access_password(
            body.password or "", ip=ip, user_agent=agent, session_token=current
        )
    elif mode is AuthMode.open:
        user, token = await services.auth.login_open(ip=ip, user_agent=agent, session_token=current)
    else:
        raise ValidationFailed("Enter your username and password.")
    set_session_cookie(response, request, services.settings, token, user)
    return UserOut.model_validate(user)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={202: {"model": PendingOut, "description": "The account waits for approval."}},
)
async def register(
    body: RegisterIn, request: Request, response: Response, services: ServicesDep
) -> Response | UserOut:
    user, token = await services.auth.register(
        body.username,
        body.password,
        body.invite_code,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    if token is None:
        pending = PendingOut(
            message="Your account was created and waits for the administrator's approval."
        )
        return JSONResponse(pending.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    set_session_cookie(response, request, services.settings, token, user)
    return UserOut.model_validate(user)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={200: {"model": SignedOutOut, "description": "Signed out; the provider's too?"}},
)
async def logout(principal: PrincipalDep, services: ServicesDep) -> Response:
    """Ends this session. Someone who signed in with an organisation's account also gets the
    provider's sign-out page to offer (200); everyone else a 204."""
    await services.auth.logout(principal)
    end_session_url = await services.sso.end_session_url(principal.user.id)
    response: Response
    if end_session_url:
        response = JSONResponse(SignedOutOut(end_session_url=end_session_url).model_dump())
    else:
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChangeIn, request: Request, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """Ends every session of this user (other browsers included) and signs this one in again."""
    token = await services.auth.change_password(
        principal,
        body.current_password,
        body.new_password,
        ip=client_ip(request),
        user_agent=user_agent(request),
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    set_session_cookie(response, request, services.settings, token, principal.user)
    return response
