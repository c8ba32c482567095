"""Rows that several processes may create at the same moment: instance-wide settings written by
workers starting together (`serve --workers`, two instances on one PostgreSQL), and a model's first
settings saved by two admins at once. The first value (or the last save) wins; nobody fails."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from chatgate.db.engine import sync_url
from chatgate.db.repos import site_settings as repo
from chatgate.db.repos import upstreams as upstreams_repo

RACERS = 4
ROUNDS = 10


def race(database_url: str, write: Callable[..., Any]) -> list[Any]:
    """Run `write` in RACERS transactions released together; return what each one returned."""
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    gate = threading.Barrier(RACERS)
    results: list[Any] = [None] * RACERS
    errors: list[BaseException] = []

    def racer(n: int) -> None:
        try:
            with Session(engine) as s, s.begin():
                s.connection()
                gate.wait()
                results[n] = write(s, n)
        except BaseException as error:  # noqa: BLE001 — reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    engine.dispose()
    assert not errors, errors
    return results


def test_processes_claiming_one_setting_at_once_all_get_the_first_value(
    database_url: str,
) -> None:
    for round_ in range(ROUNDS):
        key = f"claimed-{round_}"
        results = race(
            database_url, lambda s, n, key=key: repo.claim_instance_setting(s, key, {"hex": str(n)})
        )
        assert len({r["hex"] for r in results}) == 1, results


def test_processes_writing_one_setting_at_once_do_not_collide(database_url: str) -> None:
    for round_ in range(ROUNDS):
        key = f"written-{round_}"
        race(database_url, lambda s, n, key=key: repo.put_instance_setting(s, key, {"value": n}))
        engine = create_engine(sync_url(database_url), poolclass=NullPool)
        with Session(engine) as s:
            stored = repo.get_instance_setting(s, key)
        engine.dispose()
        assert stored is not None and stored["value"] in range(RACERS)


def test_writing_a_setting_again_replaces_it(database_url: str) -> None:
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    with Session(engine) as s, s.begin():
        repo.put_instance_setting(s, "again", {"value": 1})
        assert repo.get_instance_setting(s, "again") == {"value": 1}  # now loaded in the session
        repo.put_instance_setting(s, "again", {"value": 2})
        assert repo.get_instance_setting(s, "again") == {"value": 2}
        assert repo.claim_instance_setting(s, "again", {"value": 3}) == {"value": 2}
    engine.dispose()


def test_admins_saving_a_models_first_settings_at_once_do_not_collide(database_url: str) -> None:
    for round_ in range(ROUNDS):
        model = f"model-{round_}"
        race(
            database_url,
            lambda s, n, model=model: upstreams_repo.put_model(
                s, "console", model, display_name=f"name {n}"
            ),
        )
        engine = create_engine(sync_url(database_url), poolclass=NullPool)
        with Session(engine) as s:
            row = upstreams_repo.get_model(s, "console", model)
            assert row is not None and row.display_name in {f"name {n}" for n in range(RACERS)}
            assert row.enabled  # the column default of a new row
        engine.dispose()
