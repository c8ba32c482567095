"""Accounts: the first admin, registration by policy, invites, roles and status."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session as DbSession

from chatgate.config import Registration, Settings
from chatgate.db.engine import Database
from chatgate.db.models import Invite, User
from chatgate.db.repos import api_keys as api_keys_repo
from chatgate.db.repos import invites as invites_repo
from chatgate.db.repos import sessions as sessions_repo
from chatgate.db.repos import users as repo
from chatgate.errors import (
    InviteInvalid,
    NotFound,
    RegistrationClosed,
    SetupUsed,
    UsernameTaken,
    ValidationFailed,
)
from chatgate.ids import new_id, utcnow
from chatgate.security.passwords import check_policy, hash_password
from chatgate.security.secrets import TokenHasher, new_token
from chatgate.services.site_settings import SiteSettings

SETUP_VALID_FOR = timedelta(days=7)
ROLES = ("admin", "user")
STATUSES = ("active", "pending", "disabled")
_USERNAME = re.compile(r"^[\w.\-]{1,64}$")


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: str
    username: str
    role: str
    status: str
    is_anonymous: bool
    created_at: datetime
    quota: dict[str, Any] | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def of(cls, user: User | Row[*tuple[Any, ...]]) -> UserInfo:
        """From the ORM object or a row with the same column names."""
        return cls(
            user.id,
            user.username,
            user.role,
            user.status,
            user.is_anonymous,
            user.created_at,
            user.quota,
        )


@dataclass(frozen=True, slots=True)
class InviteInfo:
    """An invite as administrators see it: never its code's hash (the code is shown once)."""

    id: str
    role: str
    max_uses: int
    use_count: int
    note: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, invite: Invite) -> InviteInfo:
        return cls(
            invite.id,
            invite.role,
            invite.max_uses,
            invite.use_count,
            invite.note,
            invite.created_at,
            invite.expires_at,
            invite.revoked_at,
        )


def normalise_username(username: str) -> str:
    name = unicodedata.normalize("NFKC", username).strip()
    if not _USERNAME.match(name):
        raise ValidationFailed(
            "A username has 1 to 64 letters, digits, dots, dashes or underscores, without spaces.",
            extra={"fields": [{"loc": ["body", "username"], "message": "invalid username"}]},
        )
    return name


class Users:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        hasher: TokenHasher,
        site_settings: SiteSettings | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._hasher = hasher
        self._site_settings = site_settings

    # -- first admin --------------------------------------------------------------------------
    async def needs_setup(self) -> bool:
        return await self._db.read(lambda s: repo.count_admins(s) == 0)

    async def issue_setup_token(self) -> str | None:
        """A fresh one-time setup token while no admin exists (older ones stop working)."""
        token = new_token()
        code_hash = self._hasher.hash(token, purpose="setup")

        def issue(s: DbSession) -> bool:
            if repo.count_admins(s) > 0:
                return False
            now = utcnow()
            invites_repo.revoke_setup_tokens(s, now)
            invites_repo.add_invite(
                s,
                Invite(
                    kind="setup",
                    code_hash=code_hash,
                    role="admin",
                    expires_at=now + SETUP_VALID_FOR,
                ),
            )
            return True

        return token if await self._db.write(issue) else None

    async def complete_setup(self, token: str, username: str, password: str) -> UserInfo:
        username = normalise_username(username)
        check_policy(password, username=username)
        password_hash = await hash_password(password)
        code_hash = self._hasher.hash(token, purpose="setup")

        def setup(s: DbSession) -> UserInfo:
            invite = invites_repo.get_invite_by_hash(s, code_hash, kind="setup")
            now = utcnow()
            if invite is None or not _usable(invite, now) or repo.count_admins(s) > 0:
                raise SetupUsed()
            invite.use_count += 1
            invite.revoked_at = now
            user = self._insert(s, username, password_hash, role="admin")
            return UserInfo.of(user)

        return await self._db.write(setup)

    # -- accounts -----------------------------------------------------------------------------
    async def create_user(
        self, username: str, password: str, *, role: str = "user", status: str = "active"
    ) -> UserInfo:
        if role not in ROLES or status not in STATUSES:
            raise ValidationFailed("Unknown role or status.")
        username = normalise_username(username)
        check_policy(password, username=username)
        password_hash = await hash_password(password)

        def create(s: DbSession) -> UserInfo:
            return UserInfo.of(self._insert(s, username, password_hash, role=role, status=status))

        return await self._db.write(create)

    async def register(self, username: str, password: str, invite_code: str | None) -> UserInfo:
        """Create an account as the registration policy allows; a valid invite always admits."""
        username = normalise_username(username)
        check_policy(password, username=username)
        policy = (
            self._site_settings.registration if self._site_settings else self._settings.registration
        )
        if not invite_code and policy in (Registration.closed, Registration.invite):
            if policy is Registration.invite:
                raise InviteInvalid("An invite code is needed to register.")
            raise RegistrationClosed()
        password_hash = await hash_password(password)
        code_hash = self._hasher.hash(invite_code, purpose="invite") if invite_code else None

        def register(s: DbSession) -> UserInfo:
            role, status = "user", "pending" if policy is Registration.approval else "active"
            if code_hash is not None:
                invite = invites_repo.get_invite_by_hash(s, code_hash, kind="invite")
                if invite is None or not _usable(invite, utcnow()):
                    raise InviteInvalid()
                invite.use_count += 1
                role, status = invite.role, "active"
            return UserInfo.of(self._insert(s, username, password_hash, role=role, status=status))

        return await self._db.write(register)

    async def create_anonymous(self) -> UserInfo:
        def create(s: DbSession) -> UserInfo:
            user_id = new_id()
            name = f"guest-{user_id[-10:]}"
            user = User(id=user_id, username=name, username_key=name, is_anonymous=True)
            return UserInfo.of(repo.add_user(s, user))

        return await self._db.write(create)

    @staticmethod
    def _insert(
        s: DbSession,
        username: str,
        password_hash: str,
        *,
        role: str,
        status: str = "active",
    ) -> User:
        if repo.get_user_by_username(s, username) is not None:
            raise UsernameTaken()
        user = User(
            username=username,
            username_key=username.casefold(),
            password_hash=password_hash,
            role=role,
            status=status,
        )
        return repo.add_user(s, user)

    async def get(self, user_id: str) -> UserInfo:
        user = await self._db.read(lambda s: repo.get_user(s, user_id))
        if user is None:
            raise NotFound("No such user.")
        return UserInfo.of(user)

    async def get_by_username(self, username: str) -> UserInfo:
        user = await self._db.read(lambda s: repo.get_user_by_username(s, username))
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        return UserInfo.of(user)

    async def all(self) -> list[UserInfo]:
        return await self._db.read(lambda s: [UserInfo.of(u) for u in repo.list_users(s)])

    async def set_quota(self, user_id: str, quota: dict[str, Any] | None) -> UserInfo:
        """Replace the user's own quota overrides (None: only the role's defaults apply)."""

        def save(s: DbSession) -> None:
            if not repo.set_user_quota(s, user_id, quota):
                raise NotFound("No such user.")

        await self._db.write(save)
        return await self.get(user_id)

    async def update(
        self, user_id: str, *, role: str | None = None, status: str | None = None
    ) -> UserInfo:
        """Change role or status; every session of the user ends, and disabling also revokes
        every API key (enabling the account again does not bring them back).

        A disabled account's sessions stay behind as tombstones until it is enabled again (which
        ends them) or they expire: an open tab then hears "account disabled", not "signed out",
        and no tombstone can sign anyone in (`AuthService.resolve_session` refuses it)."""
        if (role is not None and role not in ROLES) or (
            status is not None and status not in STATUSES
        ):
            raise ValidationFailed("Unknown role or status.")

        def update(s: DbSession) -> UserInfo:
            user = repo.get_user(s, user_id)
            if user is None:
                raise NotFound("No such user.")
            if role is not None:
                user.role = role
            if status is not None:
                user.status = status
            s.flush()
            if user.status == "disabled":
                api_keys_repo.revoke_user_api_keys(s, user_id, utcnow())
            else:
                sessions_repo.delete_user_sessions(s, user_id)
            return UserInfo.of(user)

        return await self._db.write(update)

    async def set_password(
        self, user_id: str, password: str, *, keep_session: str | None = None
    ) -> None:
        """A new password (the user's own change, or an administrator's reset) ends the user's
        other sessions and revokes every API key: whoever held the old password may have made
        one."""
        user = await self.get(user_id)
        check_policy(password, username=user.username)
        password_hash = await hash_password(password)

        def change(s: DbSession) -> None:
            row = repo.get_user(s, user_id)
            if row is None:
                raise NotFound("No such user.")
            row.password_hash = password_hash
            sessions_repo.delete_user_sessions(s, user_id, keep=keep_session)
            api_keys_repo.revoke_user_api_keys(s, user_id, utcnow())

        await self._db.write(change)

    async def sign_out_everywhere(self, user_id: str) -> None:
        """Every session of the user ends and every API key is revoked, in one transaction."""

        def sign_out(s: DbSession) -> None:
            sessions_repo.delete_user_sessions(s, user_id)
            api_keys_repo.revoke_user_api_keys(s, user_id, utcnow())

        await self._db.write(sign_out)

    async def password_hash_of(self, username: str) -> tuple[UserInfo | None, str | None]:
        user = await self._db.read(lambda s: repo.get_user_by_username(s, username))
        if user is None:
            return None, None
        return UserInfo.of(user), user.password_hash

    async def upgrade_hash(self, user_id: str, new_hash: str) -> None:
        def upgrade(s: DbSession) -> None:
            user = repo.get_user(s, user_id)
            if user is not None:
                user.password_hash = new_hash

        await self._db.write(upgrade)

    # -- invites ------------------------------------------------------------------------------
    async def create_invite(
        self,
        created_by: str | None,
        *,
        max_uses: int = 1,
        days: int | None = 7,
        role: str = "user",
        note: str = "",
    ) -> tuple[InviteInfo, str]:
        """The new invite, and its code (shown once: only its hash is kept)."""
        if role not in ROLES:
            raise ValidationFailed("Unknown role.")
        code = new_token(18)
        invite = Invite(
            kind="invite",
            code_hash=self._hasher.hash(code, purpose="invite"),
            created_by=created_by,
            role=role,
            max_uses=max_uses,
            note=note,
            expires_at=utcnow() + timedelta(days=days) if days else None,
        )

        def create(s: DbSession) -> InviteInfo:
            return InviteInfo.of(invites_repo.add_invite(s, invite))

        return await self._db.write(create), code

    async def list_invites(self) -> list[InviteInfo]:
        return await self._db.read(
            lambda s: [InviteInfo.of(i) for i in invites_repo.list_invites(s)]
        )

    async def revoke_invite(self, invite_id: str) -> None:
        def revoke(s: DbSession) -> None:
            invite = invites_repo.get_invite(s, invite_id)
            if invite is None:
                raise NotFound("No such invite.")
            invite.revoked_at = invite.revoked_at or utcnow()

        await self._db.write(revoke)


def _usable(invite: Invite, now: datetime) -> bool:
    return (
        invite.revoked_at is None
        and invite.use_count < invite.max_uses
        and (invite.expires_at is None or invite.expires_at > now)
    )
