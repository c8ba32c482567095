"""Signing in with an organisation's account: OpenID Connect providers and a trusted header.

An (issuer, subject) pair is linked to one ChatGate user (`external_identities`). A first sign-in
creates the account when the provider's policy admits the person (any verified account, a verified
email of an allowed domain, a listed value of a claim), otherwise an account waiting for approval,
as the `approval` registration policy does. A verified email whose local part names an existing
local account (with a password) is linked to it only after the person types that password.
Roles (admin / user) and a quota group follow `role_claim` at every sign-in.

The trusted header (`X-Forwarded-User` from oauth2-proxy, Authelia, …) is believed only when the
TCP peer itself is one of `trusted_header_proxies`: never a forwarded address. From anywhere else
it is ignored, and logged (at most once a minute per address).

Every refusal, account creation, link and role change is in the audit log.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import structlog
from sqlalchemy.orm import Session as DbSession

from chatgate.config import OidcProviderConfig, Settings
from chatgate.db.engine import Database
from chatgate.db.models import ExternalIdentity, SignInFlow, User
from chatgate.db.repos import identities as repo
from chatgate.db.repos import sessions as sessions_repo
from chatgate.db.repos import users as users_repo
from chatgate.errors import AccountDisabled, ApprovalPending, NotFound
from chatgate.ids import utcnow
from chatgate.security.secrets import TokenHasher
from chatgate.services.audit import Audit
from chatgate.services.auth import Auth, Principal
from chatgate.services.sign_in_failed import SignInFailed
from chatgate.services.users import UserInfo

if TYPE_CHECKING:
    from chatgate.services.oidc import OidcClient

log = structlog.get_logger("chatgate.sso")
FLOW_LIFETIME = timedelta(minutes=10)
HEADER_ISSUER = "header:"
IGNORED_LOG_INTERVAL = 60.0
SEEN_INTERVAL = timedelta(hours=1)
_NOT_NAME = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: Literal["signed_in", "pending", "link"]
    user: UserInfo | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class LinkOffer:
    provider: str
    username: str


def _values(claim: Any) -> list[str]:
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list):
        return [str(v) for v in claim]
    return []


def _username_from(*candidates: Any) -> str:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            name = unicodedata.normalize("NFKC", candidate.split("@", 1)[0]).strip()
            name = _NOT_NAME.sub("-", name).strip("-.")[:56]
            if name:
                return name
    return "user"


class SingleSignOn:
    def __init__(
        self, db: Database, settings: Settings, hasher: TokenHasher, auth: Auth, audit: Audit
    ) -> None:
        self._db = db
        self._settings = settings
        self._hasher = hasher
        self._auth = auth
        self._audit = audit
        self.clients: dict[str, OidcClient] = {}
        if settings.oidc_providers:
            # Loaded only where a provider is configured: Authlib and joserfc cost 20 MB and 0.2 s.
            from chatgate.services.oidc import OidcClient

            self.clients = {
                p.name: OidcClient(
                    p,
                    public_url=settings.public_url or "",
                    timeout=settings.oidc_timeout,
                    leeway=settings.oidc_clock_skew_seconds,
                )
                for p in settings.oidc_providers
            }
        self._proxies = [
            ipaddress.ip_network(a, strict=False) for a in settings.trusted_header_proxies
        ]
        self._ignored: dict[str, float] = {}

    def _client(self, name: str) -> OidcClient:
        client = self.clients.get(name)
        if client is None:
            raise SignInFailed("unknown_provider", f"no provider named {name!r}")
        return client

    async def refused(self, name: str, failure: SignInFailed, *, ip: str) -> None:
        detail = f"provider={name} reason={failure.reason} ip={ip} {failure.detail}"
        log.warning("sso refused", provider=name, reason=failure.reason, ip=ip)
        await self._audit.record(None, "sso.refused", detail=detail)

    # -- OpenID Connect -----------------------------------------------------------------------
    async def start(self, name: str, flow_token: str) -> str:
        started = await self._client(name).start()
        now = utcnow()
        flow = SignInFlow(
            id=self._hasher.hash(flow_token, purpose="sso-flow"),
            provider=name,
            state=started.state,
            nonce=started.nonce,
            code_verifier=started.code_verifier,
            created_at=now,
            expires_at=now + FLOW_LIFETIME,
        )
        await self._db.write(lambda s: repo.add_flow(s, flow, now))
        return started.url

    async def callback(
        self, name: str, flow_token: str | None, params: dict[str, str], *, ip: str, agent: str
    ) -> Outcome:
        client = self._client(name)
        if not flow_token:
            raise SignInFailed("state", "this browser has no sign-in under way")
        flow_id = self._hasher.hash(flow_token, purpose="sso-flow")
        flow = await self._db.write(lambda s: repo.take_flow(s, flow_id))
        if flow is None or flow.provider != name or flow.claims is not None:
            raise SignInFailed("state", "no sign-in under way (it expired or was used)")
        if flow.expires_at <= utcnow():
            raise SignInFailed("state", "the sign-in took too long")
        if params.get("error"):
            raise SignInFailed(
                "provider_error", f"{params['error']}: {params.get('error_description', '')}"
            )
        if not hmac.compare_digest(params.get("state", "").encode(), flow.state.encode()):
            raise SignInFailed("state", "the state does not match this browser's sign-in")
        code = params.get("code")
        if not code:
            raise SignInFailed("code", "the provider sent no code")
        claims = await client.finish(code, code_verifier=flow.code_verifier, nonce=flow.nonce)
        return await self._admit(client.config, claims, flow_id, ip=ip, agent=agent)

    def _email(self, config: OidcProviderConfig, claims: dict[str, Any]) -> str | None:
        email = claims.get("email")
        verified = claims.get("email_verified") in (True, "true") or config.trust_email
        return email.strip().lower() if isinstance(email, str) and verified else None

    @staticmethod
    def _admits(config: OidcProviderConfig, claims: dict[str, Any], email: str | None) -> bool:
        """Every condition the provider's configuration sets must hold."""
        if config.allowed_domains:
            domain = email.rsplit("@", 1)[-1] if email else None
            if domain not in {d.lower().lstrip("@") for d in config.allowed_domains}:
                return False
        if config.required_claim:
            held = set(_values(claims.get(config.required_claim)))
            if not held & set(config.required_values):
                return False
        return True

    def _mapped(
        self, config: OidcProviderConfig, claims: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None] | None:
        """(role, quota overrides) from role_claim, or None when the provider maps no role."""
        if not config.role_claim:
            return None
        held = _values(claims.get(config.role_claim))
        role = "admin" if set(held) & set(config.admin_values) else "user"
        group = next((config.quota_groups[v] for v in held if v in config.quota_groups), None)
        quota = None
        if group is not None:
            quota = self._settings.role_quotas[group].model_dump(exclude_unset=True)
        return role, quota

    async def _admit(
        self,
        config: OidcProviderConfig,
        claims: dict[str, Any],
        flow_id: str,
        *,
        ip: str,
        agent: str,
    ) -> Outcome:
        issuer, subject = str(claims["iss"]), str(claims["sub"])
        email = self._email(config, claims)
        mapped = self._mapped(config, claims)
        admitted = self._admits(config, claims, email)
        wanted = _username_from(claims.get("preferred_username"), email, claims.get("name"))
        now = utcnow()

        def admit(s: DbSession) -> tuple[str, UserInfo | None, bool]:
            identity = repo.get_identity(s, issuer, subject)
            if identity is not None:
                user = users_repo.get_user(s, identity.user_id)
                assert user is not None  # the foreign key cascades
                identity.last_login_at = now
                if email:
                    identity.email = email
                changed = mapped is not None and _apply(s, user, mapped)
                return "known", UserInfo.of(user), changed
            candidate = (
                repo.local_account_named(s, email.split("@")[0].casefold()) if email else None
            )
            if candidate is not None and not repo.has_identity(s, candidate.id, issuer):
                pending = {"iss": issuer, "sub": subject, "email": email, "mapped": mapped}
                repo.add_flow(
                    s,
                    SignInFlow(
                        id=flow_id,
                        provider=config.name,
                        state="",
                        nonce="",
                        code_verifier="",
                        claims=pending,
                        candidate_id=candidate.id,
                        created_at=now,
                        expires_at=now + FLOW_LIFETIME,
                    ),
                    now,
                )
                return "link", UserInfo.of(candidate), False
            role, quota = mapped if mapped is not None else ("user", None)
            user = _new_user(s, wanted, role=role, quota=quota, active=admitted)
            repo.add_identity(
                s,
                ExternalIdentity(
                    user_id=user.id,
                    provider=config.name,
                    issuer=issuer,
                    subject=subject,
                    email=email,
                    last_login_at=now,
                ),
            )
            return "created", UserInfo.of(user), False

        what, user, changed = await self._db.write(admit)
        assert user is not None
        where = f"provider={config.name} subject={subject} email={email or '-'} ip={ip}"
        if what == "link":
            await self._audit.record(None, "sso.link_offered", target_user_id=user.id, detail=where)
            return Outcome("link", user)
        if what == "created":
            action = "sso.account_created" if admitted else "sso.approval_requested"
            await self._audit.record(
                user.id, action, target_user_id=user.id, detail=f"{where} role={user.role}"
            )
        if changed:
            await self._audit.record(
                None, "sso.role_mapped", target_user_id=user.id, detail=f"{where} role={user.role}"
            )
        return await self._session_for(user, config.name, ip=ip, agent=agent)

    async def _session_for(self, user: UserInfo, provider: str, *, ip: str, agent: str) -> Outcome:
        if user.status == "disabled":
            await self._audit.record(
                None, "sso.refused", target_user_id=user.id, detail=f"provider={provider} disabled"
            )
            raise SignInFailed("disabled", "the account is disabled")
        if user.status == "pending":
            return Outcome("pending", user)
        token = await self._auth.start_session(user, ip=ip, user_agent=agent)
        await self._audit.record(
            user.id, "sso.signed_in", target_user_id=user.id, detail=f"provider={provider} ip={ip}"
        )
        return Outcome("signed_in", user, token)

    async def link_offer(self, flow_token: str | None) -> LinkOffer:
        flow, candidate = await self._pending_link(flow_token)
        return LinkOffer(self._client(flow.provider).config.label, candidate.username)

    async def _pending_link(self, flow_token: str | None) -> tuple[SignInFlow, UserInfo]:
        if flow_token:
            flow_id = self._hasher.hash(flow_token, purpose="sso-flow")
            flow = await self._db.read(lambda s: repo.get_flow(s, flow_id))
            if flow and flow.claims and flow.candidate_id and flow.expires_at > utcnow():
                candidate_id = flow.candidate_id
                user = await self._db.read(lambda s: users_repo.get_user(s, candidate_id))
                if user is not None:
                    return flow, UserInfo.of(user)
        raise NotFound("No sign-in waits to be linked in this browser; sign in again.")

    async def link(
        self, flow_token: str | None, password: str | None, *, ip: str, agent: str
    ) -> Outcome:
        """Link the verified identity to the local account whose password the person typed, or
        (no password) give it an account of its own."""
        flow, candidate = await self._pending_link(flow_token)
        config = self._client(flow.provider).config
        claims = flow.claims or {}
        issuer, subject, email = claims["iss"], claims["sub"], claims.get("email")
        mapped = claims.get("mapped")
        if password is not None:
            user = await self._auth.verify_password_of(candidate.username, password, ip=ip)
        now = utcnow()

        def attach(s: DbSession) -> UserInfo:
            if repo.get_identity(s, issuer, subject) is not None or not repo.take_flow(s, flow.id):
                raise NotFound("This sign-in was already used; sign in again.")
            if password is not None:
                row = users_repo.get_user(s, user.id)
            else:
                role, quota = mapped if mapped else ("user", None)
                row = _new_user(
                    s,
                    _username_from(email),
                    role=role,
                    quota=quota,
                    active=self._admits(config, claims, email),
                )
            assert row is not None
            if password is not None and mapped:
                _apply(s, row, (mapped[0], mapped[1]))
            repo.add_identity(
                s,
                ExternalIdentity(
                    user_id=row.id,
                    provider=config.name,
                    issuer=issuer,
                    subject=subject,
                    email=email,
                    last_login_at=now,
                ),
            )
            return UserInfo.of(row)

        linked = await self._db.write(attach)
        action = "sso.linked" if password is not None else "sso.account_created"
        await self._audit.record(
            linked.id,
            action,
            target_user_id=linked.id,
            detail=f"provider={config.name} subject={subject} email={email or '-'} ip={ip}",
        )
        return await self._session_for(linked, config.name, ip=ip, agent=agent)

    async def end_session_url(self, user_id: str) -> str | None:
        identity = await self._db.read(lambda s: repo.latest_identity_of(s, user_id))
        if identity is None or identity.provider not in self.clients:
            return None
        after = (self._settings.public_url or "").rstrip("/") + "/login"
        return await self.clients[identity.provider].end_session_url(after)

    # -- trusted header -----------------------------------------------------------------------
    def header_believed(self, peer: str | None) -> bool:
        if peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._proxies)

    def header_ignored(self, peer: str | None, path: str) -> None:
        """Logged at most once a minute per address (anyone may send the header)."""
        key, now = peer or "unknown", time.monotonic()
        if now - self._ignored.get(key, -IGNORED_LOG_INTERVAL) >= IGNORED_LOG_INTERVAL:
            if len(self._ignored) > 10_000:
                self._ignored.clear()
            self._ignored[key] = now
            log.warning(
                "trusted header ignored: the peer is not a trusted_header_proxies address",
                header=self._settings.trusted_header,
                peer=key,
                path=path,
            )

    async def header_principal(self, name: str, email: str | None) -> Principal:
        """The user the proxy names; created (active: the proxy is the gate) on first sight."""
        header = (self._settings.trusted_header or "").lower()
        issuer, subject = HEADER_ISSUER + header, name.strip()[:255]
        email = email.strip().lower()[:320] if email and "@" in email else None
        now = utcnow()

        def known(s: DbSession) -> tuple[UserInfo, bool] | None:
            identity = repo.get_identity(s, issuer, subject)
            if identity is None:
                return None
            user = users_repo.get_user(s, identity.user_id)
            assert user is not None
            stale = identity.last_login_at is None or now - identity.last_login_at > SEEN_INTERVAL
            return UserInfo.of(user), stale

        # Every request carries the header: a read, and a write only for a new name or once an
        # hour (the last sign-in time).
        found = await self._db.read(known)
        if found is not None and not found[1]:
            return self._active(found[0])

        def find(s: DbSession) -> tuple[UserInfo, bool]:
            identity = repo.get_identity(s, issuer, subject)
            if identity is not None:
                user = users_repo.get_user(s, identity.user_id)
                assert user is not None
                identity.last_login_at = now
                return UserInfo.of(user), False
            user = _new_user(s, _username_from(subject, email), role="user", quota=None)
            repo.add_identity(
                s,
                ExternalIdentity(
                    user_id=user.id,
                    provider="header",
                    issuer=issuer,
                    subject=subject,
                    email=email,
                    last_login_at=now,
                ),
            )
            return UserInfo.of(user), True

        user, created = await self._db.write(find)
        if created:
            await self._audit.record(
                user.id,
                "sso.account_created",
                target_user_id=user.id,
                detail=f"provider=header subject={subject} email={email or '-'}",
            )
        return self._active(user)

    @staticmethod
    def _active(user: UserInfo) -> Principal:
        if user.status == "disabled":
            raise AccountDisabled()
        if user.status == "pending":
            raise ApprovalPending()
        return Principal(user)


def _apply(s: DbSession, user: User, mapped: tuple[str, dict[str, Any] | None]) -> bool:
    """The provider's role and quota group; a changed role ends the user's other sessions."""
    role, quota = mapped
    if user.role == role and user.quota == quota:
        return False
    if user.role != role:
        sessions_repo.delete_user_sessions(s, user.id)
    user.role, user.quota = role, quota
    s.flush()
    return True


def _new_user(
    s: DbSession, wanted: str, *, role: str, quota: dict[str, Any] | None, active: bool = True
) -> User:
    """An account without a password, named `wanted` (or `wanted-2`, … when taken)."""
    name, n = wanted, 1
    while users_repo.get_user_by_username(s, name) is not None:
        n += 1
        name = f"{wanted}-{n}"
    user = User(
        username=name,
        username_key=name.casefold(),
        password_hash=None,
        role=role,
        status="active" if active else "pending",
        quota=quota,
    )
    return users_repo.add_user(s, user)
