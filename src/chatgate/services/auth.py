"""Signing in and out: server-side sessions, the three sign-in modes, attempt limits.

A session is an opaque random token in an HttpOnly cookie; the database keeps only its HMAC, so
ending a session (logout, password change, role change, disabling) takes effect on the very next
request.

Guessing is limited per (account, address) and per address, never per account alone: a lock on
the account would let anyone lock its owner out, so a correct password from an address without
recent failures is never refused because of failures elsewhere. Instead, an address that keeps
failing for one account is slowed down (`slowdown`) before it is refused. Both limits are counted
before any password is hashed, so refused guesses cost no argon2 time, and they do not depend on
whether the account exists.
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session as DbSession

from chatgate.config import AuthMode, Settings
from chatgate.coordination.protocols import RateLimits, Receipt
from chatgate.db.engine import Database
from chatgate.db.models import Session
from chatgate.db.repos import sessions as repo
from chatgate.db.repos import site_settings as settings_repo
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
from chatgate.services.users import UserInfo, Users

# Extending a session's expiry is a write; do it at most this often per session.
TOUCH_INTERVAL = timedelta(hours=1)
# Anonymous users (password and open modes) lose their history with their cookie: keep it long.
ANONYMOUS_SESSION_DAYS = 365
PASSWORD_FINGERPRINT = "access_password_fingerprint"
# Failures of one account from one address before its next guesses wait, and how long at most.
SLOWDOWN_FREE_FAILURES = 3
SLOWDOWN_FIRST_SECONDS = 0.05
SLOWDOWN_MAX_SECONDS = 1.0
TOO_MANY_GUESTS = "Too many new guest sessions from this address. Try again later."
PASSWORDS_OFF = "Passwords are switched off here: sign in with your organisation's account."


def slowdown(failures: int) -> float:
    """Seconds to wait before checking a password, after `failures` recent failures of this
    account from this address: none for the first few, then doubling up to a second."""
    if failures < SLOWDOWN_FREE_FAILURES:
        return 0.0
    return min(
        SLOWDOWN_MAX_SECONDS, SLOWDOWN_FIRST_SECONDS * 2.0 ** (failures - SLOWDOWN_FREE_FAILURES)
    )


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, and through which credential."""

    user: UserInfo
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Guess:
    """One counted password attempt: per address, and per (account, address)."""

    from_ip: Receipt
    pair: Receipt


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
            stored = settings_repo.get_instance_setting(s, PASSWORD_FINGERPRINT)
            if stored is not None and stored.get("value") != fingerprint:
                repo.delete_anonymous_sessions(s)
            if stored is None or stored.get("value") != fingerprint:
                settings_repo.put_instance_setting(s, PASSWORD_FINGERPRINT, {"value": fingerprint})

        await self._db.write(check)

    # -- sign in ------------------------------------------------------------------------------
    async def _guess(self, kind: str, account: str, ip: str) -> _Guess:
        """Count one password attempt before any hashing, or refuse it (429 with Retry-After):
        per address over all accounts, and per account from this address. Then wait a little
        when this address has failed for this account before."""
        settings = self._settings
        from_ip = await self._limits.take(settings.login_attempts_per_ip, "login-ip", ip)
        try:
            pair = await self._limits.take(settings.login_attempts_per_account, kind, ip, account)
        except RateLimited:
            await self._limits.give_back(from_ip)
            raise
        delay = slowdown(pair.count - 1)
        if delay:
            await asyncio.sleep(delay)
        return _Guess(from_ip, pair)

    async def _guessed_right(self, guess: _Guess, kind: str, account: str, ip: str) -> None:
        """A correct password: this address's failures for the account are forgotten, and the
        attempt does not count against the address (a class behind one address signs in together)."""
        await self._limits.clear(self._settings.login_attempts_per_account, kind, ip, account)
        await self._limits.give_back(guess.from_ip)

    def passwords_allowed_for(self, username: str) -> bool:
        """With `local_passwords = false` only the break-glass administrator has a password."""
        settings = self._settings
        if settings.local_passwords:
            return True
        glass = settings.break_glass_admin
        return glass is not None and username.strip().casefold() == glass.strip().casefold()

    async def verify_password_of(self, username: str, password: str, *, ip: str) -> UserInfo:
        """The account whose password this is (counted and limited as a sign-in attempt)."""
        account = username.strip().casefold()
        guess = await self._guess("login-account", account, ip)
        user, stored_hash = await self._users.password_hash_of(account)
        # Always verify (against a dummy hash for unknown users) so timing tells nothing.
        valid, new_hash = await verify_password(
            password, stored_hash if user and not user.is_anonymous else None
        )
        if user is None or not valid:
            raise InvalidCredentials()
        await self._guessed_right(guess, "login-account", account, ip)
        if new_hash:
            await self._users.upgrade_hash(user.id, new_hash)
        return user

    async def login(
        self, username: str, password: str, *, ip: str, user_agent: str
    ) -> tuple[UserInfo, str]:
        user = await self.verify_password_of(username, password, ip=ip)
        # Only after the right password: a refusal must not tell who the break-glass admin is.
        if not self.passwords_allowed_for(username) or (
            user.role != "admin" and not self._settings.local_passwords
        ):
            raise Forbidden(PASSWORDS_OFF)
        self._check_status(user)
        return user, await self.start_session(user, ip=ip, user_agent=user_agent)

    async def login_with_access_password(
        self, password: str, *, ip: str, user_agent: str, session_token: str | None = None
    ) -> tuple[UserInfo, str]:
        """Password mode: the shared password gives this browser its own anonymous user.

        A browser that still has its guest session keeps that guest (and its quota); new guests
        are limited per address (`registrations_per_ip`), so signing in again never gives a
        fresh budget."""
        configured = self._settings.access_password
        if self._settings.auth_mode is not AuthMode.password or configured is None:
            raise Forbidden("This server does not use a shared access password.")
        guess = await self._guess("login-access", "", ip)
        if not hmac.compare_digest(password.encode(), configured.get_secret_value().encode()):
            raise InvalidCredentials("Wrong access password.")
        await self._guessed_right(guess, "login-access", "", ip)
        return await self._guest(ip=ip, user_agent=user_agent, session_token=session_token)

    async def login_open(
        self, *, ip: str, user_agent: str, session_token: str | None = None
    ) -> tuple[UserInfo, str]:
        if self._settings.auth_mode is not AuthMode.open:
            raise Unauthenticated()
        return await self._guest(ip=ip, user_agent=user_agent, session_token=session_token)

    async def _guest(
        self, *, ip: str, user_agent: str, session_token: str | None
    ) -> tuple[UserInfo, str]:
        """This browser's guest if its session is still valid; else a new one, if the address
        has not made too many lately."""
        if session_token:
            current = await self.resolve_session(session_token)
            if current is not None and current.user.is_anonymous:
                return current.user, session_token
        await self._limits.take(
            self._settings.registrations_per_ip, "register-ip", ip, message=TOO_MANY_GUESTS
        )
        user = await self._users.create_anonymous()
        return user, await self.start_session(user, ip=ip, user_agent=user_agent)

    async def register(
        self, username: str, password: str, invite_code: str | None, *, ip: str, user_agent: str
    ) -> tuple[UserInfo, str | None]:
        if not self._settings.local_passwords:
            raise Forbidden(PASSWORDS_OFF)
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
        user = found  # the session's times and its user's columns
        now = utcnow()
        if found.expires_at <= now:
            return None
        if user.status == "disabled":
            # The tombstone of a session the account had when it was disabled: say why it ended.
            raise AccountDisabled()
        if user.status != "active":
            return None
        if now - found.last_used_at > TOUCH_INTERVAL:
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
        """Ends every session and revokes every API key of the user, then signs this browser in
        again."""
        user = principal.user
        if user.is_anonymous:
            raise Forbidden("Guest users have no password to change.")
        account = user.username.casefold()
        guess = await self._guess("login-account", account, ip)
        _, stored_hash = await self._users.password_hash_of(user.username)
        valid, _ = await verify_password(current, stored_hash)
        if not valid:
            raise InvalidCredentials("The current password is wrong.")
        await self._guessed_right(guess, "login-account", account, ip)
        await self._users.set_password(user.id, new)
        return await self.start_session(user, ip=ip, user_agent=user_agent)

    async def end_all_sessions(self, user_id: str) -> None:
        """Sign out everywhere: every session ends and every API key is revoked."""
        await self._users.sign_out_everywhere(user_id)
