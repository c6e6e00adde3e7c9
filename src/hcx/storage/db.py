"""Engines and migrations. SQLite runs in WAL mode with foreign keys on, and every transaction
takes the write lock up front (BEGIN IMMEDIATE) so that two writers never deadlock."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError

from hcx.errors import ConfigError


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`. On SQLite, `read_only` gives deferred transactions that never take the
    write lock (WAL readers do not block the writer), for reads beside the writing engine."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine, read_only=read_only)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine, *, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Config:
    script_location = str(resources.files("hcx.storage") / "migrations")
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest revision (idempotent)."""
    try:
        with engine.begin() as connection:
            config = alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise ConfigError(f"cannot migrate the database: {exc.__class__.__name__}: {exc}") from exc


def is_initialised(engine: Engine) -> bool:
    """A node row exists (a database that was migrated but never given a node is not a node)."""
    if not inspect(engine).has_table("node"):
        return False
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT count(*) FROM node").scalar() == 1


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
