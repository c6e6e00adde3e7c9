"""Migrations and the SQLite set-up, on every backend."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from hcx.storage.db import alembic_config, make_engine, migrate
from hcx.storage.models import Base
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
