"""Engines and migrations. SQLite runs in WAL mode with foreign keys on, and every transaction
takes the write lock up front (BEGIN IMMEDIATE) so that two writers never deadlock.

Writers in one process queue on a Python lock before they ask SQLite for its write lock. SQLite's own
wait (the busy timeout) sleeps in growing steps of up to 100 ms and does not wake when the lock is
freed: threads of one node that took turns through it (the inbox, the delivery lanes, the API)
stalled for 100-500 ms. The Python lock hands over as soon as the holder commits or rolls back;
other processes on the same file still meet SQLite's wait."""

from __future__ import annotations

import sqlite3
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from hcx.errors import ConfigError


def make_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`. On SQLite, `read_only` gives deferred transactions that never take the
    write lock (WAL readers do not block the writer), for reads beside the writing engine."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False,
                                                  "factory": GatedConnection}, **kwargs)
        _configure_sqlite(engine, read_only=read_only, gate=_gate_for(url))
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


BUSY_TIMEOUT_SECONDS = 30
_gates: dict[str, threading.Lock] = {}
_gates_lock = threading.Lock()


def _gate_for(url: str) -> threading.Lock:
    """The one write gate of a database file in this process (engines on the same file share it)."""
    database = make_url(url).database or ""
    key = str(Path(database).resolve()) if database and database != ":memory:" else url
    with _gates_lock:
        return _gates.setdefault(key, threading.Lock())


class GatedConnection(sqlite3.Connection):
    """A connection that holds its database's write gate from BEGIN IMMEDIATE until the transaction
    has committed or rolled back."""

    gate: threading.Lock | None = None
    _holds_gate = False

    def begin_immediate(self) -> None:
        assert self.gate is not None
        if not self.gate.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise sqlite3.OperationalError("database is locked (another writer of this process held it too long)")
        self._holds_gate = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release_gate()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_gate()

    def _release_gate(self) -> None:
        if self._holds_gate:
            self._holds_gate = False
            assert self.gate is not None
            self.gate.release()


def _configure_sqlite(engine: Engine, *, read_only: bool, gate: threading.Lock) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        dbapi_connection.gate = gate
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if read_only:  # WAL readers never wait for writers: no gate
            connection.exec_driver_sql("BEGIN")
        else:
            connection.connection.dbapi_connection.begin_immediate()


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
