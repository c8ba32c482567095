"""Signing in and out: server-side sessions, the three sign-in modes, attempt limits.

A session is an opaque random token in an HttpOnly cookie; the database keeps only its HMAC, so
ending a session (logout, password change, role change, disabling) takes effect on the very next
request.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session as DbSession

from chatgate.config import AuthMode, Settings
from chatgate.db.engine import Database
from chatgate.db.models import Session
from chatgate.db.repos import users as repo
from chatgate.errors import (
    AccountDisabled,
    ApprovalPending,
    Forbidden,
    InvalidCredentials,
    RateLimited,
    Unauthenticated,
)
from chatgate.ids import utcnow
from chatgate.security.passwords import verify_password
from chatgate.security.secrets import TokenHasher, new_token
from chatgate.services.ratelimit import RateLimits
from chatgate.services.users import UserInfo, Users

# Extending a session's expiry is a write; do it at most this often per session.
TOUCH_INTERVAL = timedelta(hours=1)
# Anonymous users (password and open modes) lose their history with their cookie: keep it long.
ANONYMOUS_SESSION_DAYS = 365
PASSWORD_FINGERPRINT = "access_password_fingerprint"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, and through which credential."""

    user: UserInfo
    session_id: str | None = None


class Auth:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        hasher: TokenHasher,
        users: Users,
        limits: RateLimits,
    ) -> None:
        self._db = db
        self._settings = settings
        self._hasher = hasher
        self._users = users
        self._limits = limits

    async def startup(self) -> None:
        """A changed shared password ends every session it opened."""
        password = self._settings.access_password
        fingerprint = (
            self._hasher.hash(password.get_secret_value(), purpose="access") if password else ""
        )

        def check(s: DbSession) -> None:
            stored = repo.get_instance_setting(s, PASSWORD_FINGERPRINT)
            if stored is not None and stored.get("value") != fingerprint:
                repo.delete_anonymous_sessions(s)
            if stored is None or stored.get("value") != fingerprint:
                repo.put_instance_setting(s, PASSWORD_FINGERPRINT, {"value": fingerprint})

        await self._db.write(check)

    # -- sign in ------------------------------------------------------------------------------
    async def login(
        self, username: str, password: str, *, ip: str, user_agent: str
    ) -> tuple[UserInfo, str]:
        account = username.strip().casefold()
        settings = self._settings
        # Counted before the password is checked, so guesses sent at once are all counted.
        counted = await self._limits.take(
            settings.login_attempts_per_account, "login-account", account
        )
        try:
            from_ip = await self._limits.take(settings.login_attempts_per_ip, "login-ip", ip)
        except RateLimited:
            await self._limits.give_back(counted)
            raise
        user, stored_hash = await self._users.password_hash_of(account)
        # Always verify (against a dummy hash for unknown users) so timing tells nothing.
        valid, new_hash = await verify_password(
            password, stored_hash if user and not user.is_anonymous else None
        )
        if user is None or not valid:
            raise InvalidCredentials()
        # A successful sign-in does not count: a class behind one address signs in together.
        await self._limits.clear(settings.login_attempts_per_account, "login-account", account)
        await self._limits.give_back(from_ip)
        self._check_status(user)
        if new_hash:
            await self._users.upgrade_hash(user.id, new_hash)
        return user, await self.start_session(user, ip=ip, user_agent=user_agent)

    async def login_with_access_password(
        self, password: str, *, ip: str, user_agent: str
    ) -> tuple[UserInfo, str]:
        """Password mode: the shared password gives this browser its own anonymous user."""
        configured = self._settings.access_password
        if self._settings.auth_mode is not AuthMode.password or configured is None:
            raise Forbidden("This server does not use a shared access password.")
        counted = await self._limits.take(self._settings.login_attempts_per_ip, "login-ip", ip)
        if not hmac.compare_digest(password.encode(), configured.get_secret_value().encode()):
            raise InvalidCredentials("Wrong access password.")
        await self._limits.give_back(counted)
        user = await self._users.create_anonymous()
        return user, await self.start_session(user, ip=ip, user_agent=user_agent)

    async def login_open(self, *, ip: str, user_agent: str) -> tuple[UserInfo, str]:
        if self._settings.auth_mode is not AuthMode.open:
            raise Unauthenticated()
        await self._limits.take(self._settings.registrations_per_ip, "register-ip", ip)
        user = await self._users.create_anonymous()
        return user, await self.start_session(user, ip=ip, user_agent=user_agent)

    async def register(
        self, username: str, password: str, invite_code: str | None, *, ip: str, user_agent: str
    ) -> tuple[UserInfo, str | None]:
        await self._limits.take(self._settings.registrations_per_ip, "register-ip", ip)
        user = await self._users.register(username, password, invite_code)
        if user.status != "active":
            return user, None
        return user, await self.start_session(user, ip=ip, user_agent=user_agent)

    async def complete_setup(
        self, token: str, username: str, password: str, *, ip: str, user_agent: str
    ) -> tuple[UserInfo, str]:
        counted = await self._limits.take(self._settings.login_attempts_per_ip, "login-ip", ip)
        user = await self._users.complete_setup(token, username, password)
        await self._limits.give_back(counted)
        return user, await self.start_session(user, ip=ip, user_agent=user_agent)

    @staticmethod
    def _check_status(user: UserInfo) -> None:
        if user.status == "disabled":
            raise AccountDisabled()
        if user.status == "pending":
            raise ApprovalPending()

    # -- sessions -----------------------------------------------------------------------------
    async def start_session(self, user: UserInfo, *, ip: str, user_agent: str) -> str:
        token = new_token()
        days = ANONYMOUS_SESSION_DAYS if user.is_anonymous else self._settings.session_days
        now = utcnow()
        session = Session(
            id=self._hasher.hash(token, purpose="session"),
            user_id=user.id,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(days=days),
            ip=ip[:64],
            user_agent=user_agent[:255],
        )

        def create(s: DbSession) -> None:
            repo.create_session(s, session)

        await self._db.write(create)
        return token

    async def resolve_session(self, token: str) -> Principal | None:
        session_id = self._hasher.hash(token, purpose="session")
        found = await self._db.read(lambda s: repo.get_session(s, session_id))
        if found is None:
            return None
        session, user = found
        now = utcnow()
        if session.expires_at <= now or user.status != "active":
            return None
        if now - session.last_used_at > TOUCH_INTERVAL:
            days = ANONYMOUS_SESSION_DAYS if user.is_anonymous else self._settings.session_days

            def touch(s: DbSession) -> None:
                repo.touch_session(s, session_id, now, now + timedelta(days=days))

            await self._db.write(touch)
        return Principal(UserInfo.of(user), session_id)

    async def logout(self, principal: Principal) -> None:
        if principal.session_id is None:
            return
        session_id = principal.session_id

        def delete(s: DbSession) -> None:
            repo.delete_session(s, session_id)

        await self._db.write(delete)

    async def change_password(
        self, principal: Principal, current: str, new: str, *, ip: str, user_agent: str
    ) -> str:
        """Ends every session of the user, then signs this browser in again."""
        user = principal.user
        if user.is_anonymous:
            raise Forbidden("Guest users have no password to change.")
        limit, account = self._settings.login_attempts_per_account, user.username.casefold()
        counted = await self._limits.take(limit, "login-account", account)
        _, stored_hash = await self._users.password_hash_of(user.username)
        valid, _ = await verify_password(current, stored_hash)
        if not valid:
            raise InvalidCredentials("The current password is wrong.")
        await self._limits.give_back(counted)
        await self._users.set_password(user.id, new)
        return await self.start_session(user, ip=ip, user_agent=user_agent)

    async def end_all_sessions(self, user_id: str) -> None:
        def delete(s: DbSession) -> None:
            repo.delete_user_sessions(s, user_id)

        await self._db.write(delete)
