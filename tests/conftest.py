"""Shared fixtures: the shipped rules, a fixed clock, and databases (SQLite always, PostgreSQL
when HCX_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, text

from hcx.crypto import _primitives
from hcx.rules import Rules, load_rules
from hcx.rules.schema import AuthorityKind, Role
from hcx.services import accounts
from hcx.services.context import Context, Policy, Principal
from hcx.storage.db import make_engine, migrate
from hcx.storage.models import Base
from hcx.storage.unit_of_work import Database

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "hcx" / "examples"
# The public conformance data sits beside the repository (../shared), in CI as here.
SHARED = Path(os.environ.get("HCX_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
CONFORMANCE = SHARED / "conformance"
PG_URL = os.environ.get("HCX_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, with the smallest cost: production parameters take ~0.2 s per hash."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(_primitives, "SCRYPT_LOG2_N", 14)  # the cheapest cost a key file may name


@pytest.fixture(scope="session")
def rules() -> Rules:
    return load_rules()


def free_port() -> int:
    """A loopback TCP port nothing listens on just now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FixedClock:
    def __init__(self, now: dt.datetime) -> None:
        self.current = now

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += dt.timedelta(**delta)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC))


BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@contextmanager
def pg_schemas(count: int) -> Iterator[list[str]]:
    """`count` new, empty PostgreSQL schemas, dropped with all they hold afterwards (dispose the
    engines on them first)."""
    assert PG_URL
    schemas = [f"hcx_test_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schemas
    finally:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pg_engine(schema: str) -> Engine:
    """An engine whose tables are those of `schema`."""
    assert PG_URL
    return make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})


@contextmanager
def empty_engines(backend: str, tmp_path: Path, count: int = 2) -> Iterator[list[Engine]]:
    """`count` empty, unmigrated databases, one per node of a test that runs several in one process:
    SQLite files in `tmp_path`, or PostgreSQL schemas of their own."""
    if backend == "sqlite":
        engines = [make_engine(f"sqlite:///{tmp_path / f'node{n}.db'}") for n in range(count)]
        try:
            yield engines
        finally:
            for engine in engines:
                engine.dispose()
        return
    with pg_schemas(count) as schemas:
        engines = [pg_engine(schema) for schema in schemas]
        try:
            yield engines
        finally:
            for engine in engines:
                engine.dispose()


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[Database]:
    with pg_schemas(1) as [schema]:
        engine = pg_engine(schema)
        migrate(engine)
        yield Database(engine)
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
        migrate(engine)
        yield Database(engine)
        engine.dispose()
        return
    db: Database = request.getfixturevalue("_pg_database")
    with db.engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    yield db


@dataclass
class World:
    """A VNM node with a central authority, a 24/7 contact and one user per role."""

    ctx: Context
    clock: FixedClock
    officer: Principal
    supervisor: Principal
    auditor: Principal
    admin: Principal
    contact: Principal  # officer of the 24/7 point of contact
    other_officer: Principal  # officer of a third authority: must see nothing of the others


def make_world(database: Database, rules: Rules, clock: FixedClock, *, four_eyes: bool = True) -> World:
    ctx = Context(unit_of_work=database.unit_of_work, read_unit_of_work=database.read_unit_of_work, rules=rules,
                  clock=clock, policy=Policy(four_eyes=four_eyes),
                  key_passphrase=b"test passphrase", locks=database.exclusive)
    accounts.init_node(ctx, party="VNM", name="Viet Nam")
    central = accounts.add_authority(ctx, None, name="Central Authority", kind=AuthorityKind.central_authority)
    contact = accounts.add_authority(ctx, None, name="24/7 Contact", kind=AuthorityKind.contact_24_7)
    other = accounts.add_authority(ctx, None, name="Executing Prosecutor", kind=AuthorityKind.executing_authority)

    def user(name: str, role: Role, authority_id: str) -> Principal:
        accounts.add_user(ctx, None, username=name, password="correct horse battery", role=role,
                          authority_id=authority_id)
        return accounts.principal_for(ctx, name)

    return World(ctx, clock, user("olga", Role.officer, central.id), user("sam", Role.supervisor, central.id),
                 user("aude", Role.auditor, central.id), user("adam", Role.admin, central.id),
                 user("tuan", Role.officer, contact.id), user("xena", Role.officer, other.id))


@pytest.fixture
def world(database: Database, rules: Rules, clock: FixedClock) -> World:
    return make_world(database, rules, clock)
