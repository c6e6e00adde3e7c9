"""Migrations and the SQLite set-up, on every backend."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from hcx.errors import Conflict
from hcx.storage.db import alembic_config, make_engine, migrate
from hcx.storage.models import Base, ReferenceCounter
from hcx.storage.unit_of_work import Database


def test_migrations_go_down_and_up_again_to_the_models_tables(database: Database) -> None:
    engine = database.engine
    expected = set(Base.metadata.tables)
    assert expected <= set(inspect(engine).get_table_names())
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not expected & set(inspect(engine).get_table_names())
    migrate(engine)
    migrate(engine)  # idempotent
    assert expected <= set(inspect(engine).get_table_names())
    for table in Base.metadata.sorted_tables:  # every model column exists in the migrated schema
        columns = {c["name"] for c in inspect(engine).get_columns(table.name)}
        assert {c.name for c in table.columns} == columns, table.name


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/n.db")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_writers_of_one_process_take_turns_at_the_write_gate_and_a_failed_one_frees_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/n.db"
    engine, other = make_engine(url), make_engine(url)  # two engines on one file share one gate
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    with engine.connect() as connection, other.connect() as other_connection:
        gate = connection.connection.dbapi_connection.gate  # type: ignore[union-attr]
        assert gate is other_connection.connection.dbapi_connection.gate  # type: ignore[union-attr]
    assert gate is not None and not gate.locked()

    second_done = threading.Event()

    def second_writer() -> None:
        with other.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (2)"))
        second_done.set()

    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        assert gate.locked()  # held from BEGIN IMMEDIATE to the commit
        thread = threading.Thread(target=second_writer)
        thread.start()
        assert not second_done.wait(0.2)  # it queues on the gate while the first transaction is open
    thread.join(timeout=10)
    assert second_done.is_set() and not gate.locked()

    with pytest.raises(IntegrityError), engine.begin() as connection:  # rolled back: the gate is freed
        connection.execute(text("INSERT INTO t VALUES (1)"))
    assert not gate.locked()
    with other.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()
    other.dispose()


def test_a_savepoint_that_clashes_with_stored_data_is_undone_alone_as_a_conflict(database: Database) -> None:
    with database.unit_of_work() as uow:
        assert uow.next_reference_number(party="VNM", year=2026) == 1
        with pytest.raises(Conflict), uow.savepoint():
            uow.session.add(ReferenceCounter(party="VNM", year=2026, last=7))  # the same key: refused at the flush
        assert uow.next_reference_number(party="VNM", year=2026) == 2  # the transaction goes on
        uow.commit()
