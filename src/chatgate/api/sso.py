"""Sign-in with an organisation's account: the OpenID Connect redirects and the account link.

These routes are public by design (the person is not signed in yet): `start` sends the browser to
the provider with a fresh state, nonce and PKCE challenge bound to a short-lived HttpOnly cookie;
`callback` checks the answer and ends on a page of the web app — signed in, waiting for approval,
asked for a local password to link, or refused with the reason (which is also in the audit log).
No provider token ever reaches the browser: the session cookie is ChatGate's own.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from chatgate.api.auth import set_session_cookie
from chatgate.api.deps import ServicesDep, client_ip, user_agent
from chatgate.api.schemas import SsoLinkIn, SsoLinkOut, UserOut
from chatgate.errors import Forbidden, RateLimited
from chatgate.security.secrets import new_token
from chatgate.services.sign_in_failed import SignInFailed
from chatgate.services.sso import FLOW_LIFETIME, Outcome

router = APIRouter(prefix="/api/auth/oidc", tags=["auth"])
FLOW_COOKIE = "chatgate_sso"
PAGES = {"pending": "/signin/pending", "link": "/signin/link"}
REFUSED_PAGE = "/signin/refused?reason="
STARTS_PER_IP = "300/15 minutes"


def _secure(request: Request, services: ServicesDep) -> bool:
    setting = services.settings.cookie_secure
    return setting == "always" or (setting == "auto" and request.url.scheme == "https")


def _refused(reason: str) -> RedirectResponse:
    response = RedirectResponse(REFUSED_PAGE + quote(reason), status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/api/auth/oidc")
    return response


@router.get(
    "/{provider}/start",
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "To the provider's sign-in page (or the refused page)."}},
)
async def start(provider: str, request: Request, services: ServicesDep) -> Response:
    """Begin signing in with `provider`: a redirect to its authorization endpoint."""
    flow_token = new_token()
    try:
        # Each start stores a flow (for ten minutes): bounded per address, generously (a class
        # behind one address signs in together).
        await services.limits.take(STARTS_PER_IP, "sso-start", client_ip(request))
        url = await services.sso.start(provider, flow_token)
    except RateLimited as exc:
        failure = SignInFailed("rate_limited", exc.message)
        await services.sso.refused(provider, failure, ip=client_ip(request))
        return _refused(failure.reason)
    except SignInFailed as failure:
        await services.sso.refused(provider, failure, ip=client_ip(request))
        return _refused(failure.reason)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        flow_token,
        max_age=int(FLOW_LIFETIME.total_seconds()),
        path="/api/auth/oidc",
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET: Lax cookies come along
        secure=_secure(request, services),
    )
    return response


@router.get(
    "/{provider}/callback",
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "To the web app: signed in, pending, link or refused."}},
)
async def callback(provider: str, request: Request, services: ServicesDep) -> Response:
    """The provider's answer (the redirect URI registered there)."""
    ip = client_ip(request)
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    try:
        outcome = await services.sso.callback(
            provider,
            request.cookies.get(FLOW_COOKIE),
            params,
            ip=ip,
            agent=user_agent(request),
        )
    except SignInFailed as failure:
        await services.sso.refused(provider, failure, ip=ip)
        return _refused(failure.reason)
    return _finish(outcome, request, services)


def _finish(outcome: Outcome, request: Request, services: ServicesDep) -> Response:
    if outcome.kind == "signed_in" and outcome.token and outcome.user:
        response = RedirectResponse("/", status_code=303)
        set_session_cookie(response, request, services.settings, outcome.token, outcome.user)
    else:
        response = RedirectResponse(PAGES[outcome.kind], status_code=303)
    if outcome.kind != "link":
        response.delete_cookie(FLOW_COOKIE, path="/api/auth/oidc")
    return response


@router.get("/link", response_model=SsoLinkOut)
async def link_offer(request: Request, services: ServicesDep) -> SsoLinkOut:
    """The local account this browser's verified sign-in may be linked to."""
    offer = await services.sso.link_offer(request.cookies.get(FLOW_COOKIE))
    return SsoLinkOut(provider=offer.provider, username=offer.username)


@router.post(
    "/link",
    response_model=UserOut,
    responses={202: {"description": "The new account waits for approval."}},
)
async def link(
    body: SsoLinkIn, request: Request, response: Response, services: ServicesDep
) -> Response | UserOut:
    """With `password`: link to the local account (proving it is yours). Without: an account of
    its own instead."""
    ip = client_ip(request)
    try:
        outcome = await services.sso.link(
            request.cookies.get(FLOW_COOKIE), body.password, ip=ip, agent=user_agent(request)
        )
    except SignInFailed as failure:
        await services.sso.refused("link", failure, ip=ip)
        raise Forbidden("That account is disabled.") from failure
    response.delete_cookie(FLOW_COOKIE, path="/api/auth/oidc")
    if outcome.kind == "pending" or outcome.token is None or outcome.user is None:
        response.status_code = 202
        return response
    set_session_cookie(response, request, services.settings, outcome.token, outcome.user)
    return UserOut.model_validate(outcome.user)
