"""The per-key summary of the correlation index (`indicator_shared_keys`, migration 0013), on each
backend: after any sequence of imports, re-imports and bulk loads (kept or rebuilt index, failed
loads) it is exactly what the recomputation from the postings gives, and so is the cross-country
report read from it; on PostgreSQL two writers of one key take turns."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hcx.errors import PolicyDenied
from hcx.services import indicators
from hcx.storage.db import alembic_config, migrate
from hcx.storage.unit_of_work import Database
from tests.conftest import World
from tests.integration.test_indicator_index import IBAN, csv_file

KEYS = [bytes([n]) * 16 for n in range(6)]
CASES = ["A", "B", "C", "D"]
COUNTRIES = ["VNM", "DEU", "FRA"]
COLUMNS = ("key", "kind", "value", "case_ref", "country")

posting = st.tuples(st.sampled_from(KEYS), st.sampled_from(CASES), st.sampled_from(COUNTRIES))
step = st.tuples(st.sampled_from(["import", "load_kept", "load_rebuilt", "load_repeated"]),
                 st.integers(0, 1), st.lists(posting, min_size=1, max_size=8))


def model_summary(postings: set[tuple[str, bytes, str, str]], authority: str) -> dict[bytes, tuple[int, bool]]:
    by_key: dict[bytes, list[str]] = {}
    for owner, key, _case, country in postings:
        if owner == authority:
            by_key.setdefault(key, []).append(country)
    return {key: (len(countries), len(set(countries)) > 1) for key, countries in by_key.items() if len(countries) >= 2}


def empty(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.session.execute(text("DELETE FROM indicator_shared_keys"))
        uow.session.execute(text("DELETE FROM indicator_postings"))
        uow.commit()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_the_summary_stays_what_the_postings_give(world: World, database: Database,
                                                  steps: list[tuple[str, int, list[tuple[bytes, str, str]]]]) -> None:
    empty(database)
    authorities = [world.officer.authority_id, world.other_officer.authority_id]
    now = world.clock.now()
    stored: set[tuple[str, bytes, str, str]] = set()
    for action, which, batch in steps:
        authority = authorities[which]
        wanted = list(dict.fromkeys((authority, key, case, country) for key, case, country in batch))
        with database.unit_of_work() as uow:
            store = uow.indicators
            if action == "import":  # the incremental path: a re-import of a posting is left as it is
                store.add_postings([{"key": key, "kind": "sha256", "value": key.hex(), "case_ref": case,
                                     "authority_id": owner, "first_seen": now, "tlp": "", "country": country,
                                     "origin": ""} for owner, key, case, country in wanted])
                stored.update(wanted)
            else:
                fresh = [p for p in wanted if p not in stored]
                rows = [(key, "sha256", key.hex(), case, country) for _owner, key, case, country in fresh]
                if action == "load_repeated":  # a refused load leaves index and summary as they were
                    rows += rows[:1] if rows else [(key, "sha256", key.hex(), case, country)
                                                   for _owner, key, case, country in wanted[:1]]
                    with pytest.raises(IntegrityError):
                        store.load_postings(iter(rows), columns=COLUMNS, build_index_after=which == 0,
                                            constants={"authority_id": authority, "first_seen": now, "tlp": ""})
                    continue
                store.load_postings(iter(rows), columns=COLUMNS, build_index_after=action == "load_rebuilt",
                                    constants={"authority_id": authority, "first_seen": now, "tlp": ""})
                stored.update(fresh)
            uow.commit()
        with database.read_unit_of_work() as uow:
            for owner in authorities:
                expected = model_summary(stored, owner)
                assert uow.indicators.shared_keys(authority_id=owner) == expected
                assert uow.indicators.shared_keys_recomputed(authority_id=owner) == expected
                for max_cases in (2, 3, 50):
                    report = uow.indicators.cross_country_keys(authority_id=owner, max_cases=max_cases)
                    assert report == uow.indicators.cross_country_keys_recomputed(authority_id=owner,
                                                                                  max_cases=max_cases)
                    assert report == sorted((key, cases) for key, (cases, cross) in expected.items()
                                            if cross and cases <= max_cases)


def test_a_bulk_load_with_the_authority_per_row_summarises_each(world: World, database: Database) -> None:
    now, ours, theirs = world.clock.now(), world.officer.authority_id, world.other_officer.authority_id
    rows = [(KEYS[0], "sha256", "x", "A", "VNM", ours), (KEYS[0], "sha256", "x", "B", "DEU", ours),
            (KEYS[0], "sha256", "x", "A", "VNM", theirs), (KEYS[1], "sha256", "y", "A", "VNM", theirs),
            (KEYS[1], "sha256", "y", "B", "VNM", theirs)]
    for after in (True, False):
        empty(database)
        with database.unit_of_work() as uow:
            uow.indicators.load_postings(iter(rows), columns=(*COLUMNS, "authority_id"),
                                         constants={"first_seen": now, "tlp": ""}, build_index_after=after)
            uow.commit()
        with database.read_unit_of_work() as uow:
            assert uow.indicators.shared_keys(authority_id=ours) == {KEYS[0]: (2, True)}
            assert uow.indicators.shared_keys(authority_id=theirs) == {KEYS[1]: (2, False)}


def test_imports_and_the_report_through_the_service(world: World, database: Database, tmp_path: Path) -> None:
    """The service's paths (import into a home case and a counterpart's, a re-import) keep the summary,
    and the report, the links and the generic values read it."""
    home = csv_file(tmp_path, "home.csv", [("iban", IBAN), ("ipv4", "10.0.0.1")])
    for case, country in (("H-1", None), ("H-2", None), ("F-1", "FRA"), ("H-1", None)):
        indicators.import_file(world.ctx, world.officer, home, case_ref=case, country=country,
                               origin="Police" if country else "")
    report = indicators.cross_country_links(world.ctx, world.officer)
    assert {(link.case_a, link.case_b) for link in report.links} == {("FRA/F-1", "H-1"), ("FRA/F-1", "H-2")}
    linked = indicators.links(world.ctx, world.officer, max_cases=2)
    assert [g.cases for g in linked.generic] == [3, 3] and linked.links == ()
    with database.read_unit_of_work() as uow:
        summary = uow.indicators.shared_keys(authority_id=world.officer.authority_id)
        assert summary == uow.indicators.shared_keys_recomputed(authority_id=world.officer.authority_id)
        assert sorted(summary.values()) == [(3, True), (3, True)]


def test_two_writers_of_one_key_take_turns(world: World, database: Database) -> None:
    """PostgreSQL: a writer of the authority's postings waits for the one before it to commit, so the
    summary it recomputes counts the other's posting (without the lock each saw only its own)."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's BEGIN IMMEDIATE serialises writers already")
    authority, now = world.officer.authority_id, world.clock.now()

    def row(case: str, country: str) -> dict[str, Any]:
        return {"key": KEYS[0], "kind": "sha256", "value": "x", "case_ref": case, "authority_id": authority,
                "first_seen": now, "tlp": "", "country": country, "origin": ""}

    second_started = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with database.unit_of_work() as uow:
                second_started.set()
                uow.indicators.add_postings([row("B", "DEU")])
                uow.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with database.unit_of_work() as uow:
        uow.indicators.add_postings([row("A", "VNM")])
        thread = threading.Thread(target=second)
        thread.start()
        second_started.wait(5)
        thread.join(0.5)
        assert thread.is_alive()  # waiting for our commit
        uow.commit()
    thread.join(10)
    assert not errors
    with database.read_unit_of_work() as uow:
        assert uow.indicators.shared_keys(authority_id=authority) == {KEYS[0]: (2, True)}
        assert uow.indicators.cross_country_keys(authority_id=authority, max_cases=50) == [(KEYS[0], 2)]


def test_the_check_finds_a_summary_that_drifted_and_repairs_it(world: World, database: Database,
                                                              tmp_path: Path) -> None:
    home = csv_file(tmp_path, "home.csv", [("iban", IBAN), ("ipv4", "10.0.0.1")])
    for case, country in (("H-1", None), ("F-1", "FRA")):
        indicators.import_file(world.ctx, world.officer, home, case_ref=case, country=country,
                               origin="Police" if country else "")
    assert indicators.check_summary(world.ctx, world.auditor) == 0
    with database.unit_of_work() as uow:  # a summary that lost a row and miscounts another
        uow.session.execute(text("DELETE FROM indicator_shared_keys WHERE key = (SELECT key FROM "
                                 "indicator_shared_keys ORDER BY key LIMIT 1)"))
        uow.session.execute(text("UPDATE indicator_shared_keys SET cases = 7"))
        uow.commit()
    [link] = indicators.cross_country_links(world.ctx, world.officer).links  # the report reads the summary
    assert len(link.indicators) == 1
    assert indicators.check_summary(world.ctx, world.auditor) == 2
    with pytest.raises(PolicyDenied):
        indicators.check_summary(world.ctx, world.auditor, repair=True)
    assert indicators.check_summary(world.ctx, world.officer, repair=True) == 2
    assert indicators.check_summary(world.ctx, world.auditor) == 0
    [link] = indicators.cross_country_links(world.ctx, world.officer).links
    assert len(link.indicators) == 2


def test_the_migration_summarises_the_postings_already_stored(world: World, database: Database,
                                                              tmp_path: Path) -> None:
    home = csv_file(tmp_path, "home.csv", [("iban", IBAN), ("ipv4", "10.0.0.1")])
    for case, country in (("H-1", None), ("H-2", None), ("F-1", "FRA")):
        indicators.import_file(world.ctx, world.officer, home, case_ref=case, country=country,
                               origin="Police" if country else "")
    engine = database.engine
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")
        connection.execute(text("UPDATE indicator_postings SET country = 'VNM'"))  # all at home now
    migrate(engine)
    with database.read_unit_of_work() as uow:
        summary = uow.indicators.shared_keys(authority_id=world.officer.authority_id)
        assert sorted(summary.values()) == [(3, False), (3, False)]
        assert summary == uow.indicators.shared_keys_recomputed(authority_id=world.officer.authority_id)
