"""External identities (OpenID Connect subjects, trusted-header names) and sign-in flows."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.models import ExternalIdentity, SignInFlow, User


def get_identity(s: DbSession, issuer: str, subject: str) -> ExternalIdentity | None:
    query = sa.select(ExternalIdentity).where(
        ExternalIdentity.issuer == issuer, ExternalIdentity.subject == subject
    )
    return s.execute(query).scalar_one_or_none()


def add_identity(s: DbSession, identity: ExternalIdentity) -> ExternalIdentity:
    s.add(identity)
    s.flush()
    return identity


def latest_identity_of(s: DbSession, user_id: str) -> ExternalIdentity | None:
    """The identity the user last signed in with (for the provider's sign-out page)."""
    query = (
        sa.select(ExternalIdentity)
        .where(ExternalIdentity.user_id == user_id, ExternalIdentity.last_login_at.is_not(None))
        .order_by(ExternalIdentity.last_login_at.desc())
        .limit(1)
    )
    return s.execute(query).scalar_one_or_none()


def has_identity(s: DbSession, user_id: str, issuer: str) -> bool:
    query = sa.select(ExternalIdentity.id).where(
        ExternalIdentity.user_id == user_id, ExternalIdentity.issuer == issuer
    )
    return s.execute(query.limit(1)).first() is not None


def local_account_named(s: DbSession, username_key: str) -> User | None:
    """A named account with a password, which a verified email may be linked to."""
    query = sa.select(User).where(
        User.username_key == username_key,
        User.is_anonymous.is_(False),
        User.password_hash.is_not(None),
    )
    return s.execute(query).scalar_one_or_none()


def add_flow(s: DbSession, flow: SignInFlow, now: datetime) -> None:
    s.execute(sa.delete(SignInFlow).where(SignInFlow.expires_at <= now))
    s.add(flow)


def take_flow(s: DbSession, flow_id: str) -> SignInFlow | None:
    """The flow, removed: a flow answers one callback only."""
    flow = s.get(SignInFlow, flow_id)
    if flow is not None:
        s.delete(flow)
        s.flush()
    return flow


def get_flow(s: DbSession, flow_id: str) -> SignInFlow | None:
    return s.get(SignInFlow, flow_id)
