"""Upstreams managed in the admin console: providers, their credentials, per-model settings, and
the revision number every change raises (instances poll it to apply changes made elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session as DbSession

from chatgate.db.core import upsertable_insert
from chatgate.db.models import UpstreamCredential, UpstreamModel, UpstreamProvider, UpstreamRevision
from chatgate.ids import utcnow

_REVISION_ROW = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the console keeps about upstreams, read in one transaction."""

    version: int
    providers: Sequence[UpstreamProvider]
    credentials: Sequence[UpstreamCredential]
    models: Sequence[UpstreamModel]


def version(s: DbSession) -> int:
    found = s.execute(
        sa.select(UpstreamRevision.version).where(UpstreamRevision.id == _REVISION_ROW)
    ).scalar_one_or_none()
    return int(found or 0)


def bump(s: DbSession) -> None:
    """Raise the revision inside the caller's transaction (a single UPDATE: no lost update
    between instances; the row is created the first time)."""
    statement = (
        sa.update(UpstreamRevision)
        .where(UpstreamRevision.id == _REVISION_ROW)
        .values(version=UpstreamRevision.version + 1)
    )
    if not s.execute(statement).rowcount:  # type: ignore[attr-defined]
        s.add(UpstreamRevision(id=_REVISION_ROW, version=1))
        s.flush()


def snapshot(s: DbSession) -> Snapshot:
    return Snapshot(
        version=version(s),
        providers=s.execute(
            sa.select(UpstreamProvider).order_by(UpstreamProvider.created_at, UpstreamProvider.id)
        )
        .scalars()
        .all(),
        credentials=s.execute(
            sa.select(UpstreamCredential).order_by(
                UpstreamCredential.created_at, UpstreamCredential.id
            )
        )
        .scalars()
        .all(),
        models=s.execute(
            sa.select(UpstreamModel).order_by(UpstreamModel.created_at, UpstreamModel.model_id)
        )
        .scalars()
        .all(),
    )


# -- providers ------------------------------------------------------------------------------------
def get_provider(s: DbSession, provider_id: str) -> UpstreamProvider | None:
    return s.get(UpstreamProvider, provider_id)


def provider_named(s: DbSession, name: str) -> UpstreamProvider | None:
    return s.execute(
        sa.select(UpstreamProvider).where(UpstreamProvider.name == name)
    ).scalar_one_or_none()


def add_provider(s: DbSession, provider: UpstreamProvider) -> UpstreamProvider:
    s.add(provider)
    s.flush()
    return provider


def update_provider(s: DbSession, provider: UpstreamProvider, **values: Any) -> None:
    old_name = provider.name
    for key, value in values.items():
        setattr(provider, key, value)
    provider.updated_at = utcnow()
    if provider.name != old_name:  # the model settings follow the provider's name
        s.execute(
            sa.update(UpstreamModel)
            .where(UpstreamModel.provider == old_name)
            .values(provider=provider.name)
        )
    s.flush()


def delete_provider(s: DbSession, provider: UpstreamProvider) -> None:
    s.execute(sa.delete(UpstreamCredential).where(UpstreamCredential.provider_id == provider.id))
    s.execute(sa.delete(UpstreamModel).where(UpstreamModel.provider == provider.name))
    s.delete(provider)
    s.flush()


# -- credentials ----------------------------------------------------------------------------------
def credentials_of(s: DbSession, provider_id: str) -> Sequence[UpstreamCredential]:
    return (
        s.execute(
            sa.select(UpstreamCredential)
            .where(UpstreamCredential.provider_id == provider_id)
            .order_by(UpstreamCredential.created_at, UpstreamCredential.id)
        )
        .scalars()
        .all()
    )


def get_credential(s: DbSession, provider_id: str, credential_id: str) -> UpstreamCredential | None:
    found = s.get(UpstreamCredential, credential_id)
    return found if found is not None and found.provider_id == provider_id else None


def add_credential(s: DbSession, credential: UpstreamCredential) -> UpstreamCredential:
    s.add(credential)
    s.flush()
    return credential


def update_credential(s: DbSession, credential: UpstreamCredential, **values: Any) -> None:
    for key, value in values.items():
        setattr(credential, key, value)
    credential.updated_at = utcnow()
    s.flush()


def delete_credential(s: DbSession, credential: UpstreamCredential) -> None:
    s.delete(credential)
    s.flush()


# -- model settings -------------------------------------------------------------------------------
def get_model(s: DbSession, provider: str, model_id: str) -> UpstreamModel | None:
    return s.get(UpstreamModel, (provider, model_id))


def put_model(s: DbSession, provider: str, model_id: str, **values: Any) -> UpstreamModel:
    """Create the row if missing in one statement (two admins, or two instances, saving a model's
    first settings at once cannot collide), then set the values: the last save wins."""
    now = utcnow()
    s.execute(
        upsertable_insert(s, UpstreamModel)
        .values(provider=provider, model_id=model_id, created_at=now, updated_at=now)
        .on_conflict_do_nothing()
    )
    row = s.get(UpstreamModel, (provider, model_id), populate_existing=True)
    assert row is not None
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = now
    s.flush()
    return row
