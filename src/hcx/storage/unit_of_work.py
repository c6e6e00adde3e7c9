"""The SQLAlchemy unit of work: one session, one transaction, repositories as methods.

Library errors are translated at this boundary: a unique-constraint or optimistic-lock failure
becomes `Conflict`, anything else from the database `StorageError`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, select, text, update
from sqlalchemy.exc import DataError, IntegrityError, PendingRollbackError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from hcx.domain.ports import OutboxItem
from hcx.errors import Conflict, InvalidInput
from hcx.storage.db import make_engine
from hcx.storage.evidence_store import SqlEvidenceStore
from hcx.storage.exchange_store import SqlExchangeStore
from hcx.storage.indicator_store import SqlIndicatorStore
from hcx.storage.ledger import SqlLedgerStore
from hcx.storage.matching_store import SqlMatchStore
from hcx.storage.models import (
    ApiToken,
    AuditEvent,
    Authority,
    InboxMessage,
    Key,
    Node,
    OutboxMessage,
    Peer,
    ReferenceCounter,
    Request,
    RequestEvent,
    User,
)
from hcx.storage.taxii_store import SqlTaxiiStore
from hcx.storage.transfer_store import SqlTransferStore

# what a flush that clashes with stored data raises: a unique key taken, a row changed meanwhile;
# or, at the next use of the transaction, that such a flush failed and whoever caught its Conflict
# went on (a message filed as rejected, say): the transaction can then only be undone
_CLASHES = (IntegrityError, StaleDataError, PendingRollbackError)
# a value its column cannot hold (a string too long, a number out of range): PostgreSQL refuses it
# at the flush, SQLite stores it
_MISFIT = "a value does not fit its column (too long, or out of range)"

_COUNTERS = cast(Table, ReferenceCounter.__table__)
# built once (Core, not ORM): building a statement costs more than running it; counters are never
# held as objects, so nothing in the session goes stale
_BUMP_COUNTER = (update(_COUNTERS)
                 .where(_COUNTERS.c.party == bindparam("counter_party"), _COUNTERS.c.year == bindparam("counter_year"))
                 .values(last=_COUNTERS.c.last + 1).returning(_COUNTERS.c.last))

_OUTBOX = cast(Table, OutboxMessage.__table__)
_DUE = (select(_OUTBOX.c.id)  # what an idle worker asks many times a second
        .where(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= bindparam("due_now"),
               _OUTBOX.c.lease_until.is_(None) | (_OUTBOX.c.lease_until <= bindparam("due_now")))
        .limit(1))

_CLAIM = (select(_OUTBOX.c.id, _OUTBOX.c.peer_party, _OUTBOX.c.digest, _OUTBOX.c.status, _OUTBOX.c.wire)
          .where(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= bindparam("due_now"),
                 _OUTBOX.c.lease_until.is_(None) | (_OUTBOX.c.lease_until <= bindparam("due_now")))
          .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id).limit(bindparam("claim_limit"))
          .with_for_update(skip_locked=True))
_LEASE = (update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("leased_ids", expanding=True)))
          .values(lease_until=bindparam("leased_until")))
_ITEMS = (select(_OUTBOX.c.id, _OUTBOX.c.peer_party, _OUTBOX.c.digest, _OUTBOX.c.status)
          .where(_OUTBOX.c.id.in_(bindparam("item_ids", expanding=True))))
_MARK_DELIVERED = (update(_OUTBOX)
                   .where(_OUTBOX.c.id == bindparam("delivered_id"), _OUTBOX.c.status == "pending")
                   .values(status="delivered", delivered_at=bindparam("delivered_now"), lease_until=None,
                           receipt=bindparam("signed_receipt")))

# node-wide locks take PostgreSQL's two-integer advisory keys, a space apart from the one-bigint
# keys of the exchange locks below, whose names peers choose
_NODE_LOCK_CLASS = 0x68_63_78  # "hcx"
_ADVISORY_LOCK = text(f"SELECT pg_advisory_lock({_NODE_LOCK_CLASS}, hashtext(:name))")
_ADVISORY_UNLOCK = text(f"SELECT pg_advisory_unlock({_NODE_LOCK_CLASS}, hashtext(:name))")
NODE_LOCK_TIMEOUT = "60s"  # a holder stuck longer is an error, not a reason to wait for ever

# one transaction-scoped advisory lock per exchange, taken in the order of the (sorted) array
_LOCK_EXCHANGES = text("SELECT count(pg_advisory_xact_lock(hashtextextended(e, 0))) "
                       "FROM unnest(CAST(:exchanges AS text[])) WITH ORDINALITY AS t(e, n)")


class SqlUnitOfWork:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        assert self._session is not None, "use the unit of work in a with-block"
        return self._session

    def __enter__(self) -> SqlUnitOfWork:
        self._session = self._factory()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.session.rollback()  # whatever was not committed is undone
        finally:
            self.session.close()
            self._session = None

    def commit(self) -> None:
        try:
            self.session.commit()
        except _CLASHES as exc:
            self._drop_changes_after_a_failed_flush()
            self.session.rollback()
            raise Conflict("the change conflicts with data stored meanwhile; reload and try again") from exc
        except DataError as exc:
            self._drop_changes_after_a_failed_flush()
            self.session.rollback()
            raise InvalidInput(_MISFIT) from exc

    def _flush(self, obj: Any) -> Any:
        self.session.add(obj)
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise Conflict("this already exists") from exc  # the transaction (or savepoint) is rolled back
        return obj

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the transaction that is undone alone if it raises (a clash with stored data, at
        its flush, as Conflict; so too if a flush in it clashed and whoever caught that went on; a
        value too long for its column as InvalidInput)."""
        try:
            with self.session.begin_nested() as nested:
                try:
                    yield
                finally:
                    self._drop_changes_after_a_failed_flush()
                if not nested.is_active:  # a flush clashed and its Conflict was caught: already undone, silently
                    raise Conflict("this already exists")
        except _CLASHES as exc:
            raise Conflict("this already exists") from exc
        except DataError as exc:
            raise InvalidInput(_MISFIT) from exc

    @contextmanager
    def without_savepoint(self) -> Iterator[None]:
        """A part of the transaction with the errors of `savepoint` but not its cost (no statement
        before, none after): a clash with stored data at any flush in it, one that a query makes
        included, raises Conflict, as it does at commit; the whole transaction can then only be
        undone. So it does if a flush in it clashed and whoever caught that went on; a value too
        long for its column raises InvalidInput."""
        try:
            try:
                yield
            finally:
                self._drop_changes_after_a_failed_flush()
        except _CLASHES as exc:
            raise Conflict("this clashes with data stored meanwhile") from exc
        except DataError as exc:
            raise InvalidInput(_MISFIT) from exc
        if not self.session.is_active:  # a flush clashed and its Conflict was caught: nothing else raised yet
            raise Conflict("this clashes with data stored meanwhile")

    def _drop_changes_after_a_failed_flush(self) -> None:
        """Once a flush failed, the transaction (or savepoint) was undone and whatever changed since
        is to go with it: drop it now, quietly (the rollback would warn of it)."""
        session = self.session
        if session.is_active:
            return
        for obj in [*session.new, *session.deleted]:
            session.expunge(obj)
        for obj in list(session.dirty):
            session.expire(obj)

    def _add(self, obj: Any) -> Any:
        """An append-only row with a fresh id: written at the next flush, with its neighbours."""
        self.session.add(obj)
        return obj

    # node
    def get_node(self) -> Node | None:
        return self.session.scalars(select(Node).limit(1)).first()

    def create_node(self, *, party: str, name: str, at: dt.datetime, key_salt: bytes) -> Node:
        node = Node(id=1, party=party, name=name, created_at=at, url="", descriptor_version=1, key_salt=key_salt)
        return self._flush(node)  # type: ignore[no-any-return]

    # authorities
    def add_authority(self, *, id: str, party: str, name: str, kind: str, at: dt.datetime) -> Authority:
        return self._flush(Authority(id=id, party=party, name=name, kind=kind, created_at=at))  # type: ignore[no-any-return]

    def get_authority(self, id: str) -> Authority | None:
        return self.session.get(Authority, id)

    def list_authorities(self) -> Sequence[Authority]:
        return self.session.scalars(select(Authority).order_by(Authority.name)).all()

    # users and tokens
    def add_user(self, *, id: str, username: str, display_name: str, role: str, authority_id: str,
                 password_hash: str, at: dt.datetime) -> User:
        user = User(id=id, username=username, display_name=display_name, role=role,
                    authority_id=authority_id, password_hash=password_hash, active=True, created_at=at)
        return self._flush(user)  # type: ignore[no-any-return]

    def get_user(self, id: str) -> User | None:
        return self.session.get(User, id)

    def find_user(self, username: str) -> User | None:
        return self.session.scalars(select(User).where(User.username == username)).first()

    def list_users(self) -> Sequence[User]:
        return self.session.scalars(select(User).order_by(User.username)).all()

    def add_token(self, *, id: str, user_id: str, name: str, token_hash: str, at: dt.datetime,
                  expires_at: dt.datetime | None) -> ApiToken:
        token = ApiToken(id=id, user_id=user_id, name=name, token_hash=token_hash, created_at=at,
                         expires_at=expires_at)
        return self._flush(token)  # type: ignore[no-any-return]

    def find_token(self, token_hash: str) -> ApiToken | None:
        return self.session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()

    def get_token(self, id: str) -> ApiToken | None:
        return self.session.get(ApiToken, id)

    def list_tokens(self, user_id: str) -> Sequence[ApiToken]:
        return self.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)).all()

    # requests
    def add_request(self, **values: Any) -> Request:
        return self._add(Request(version=1, **values))  # type: ignore[no-any-return]

    def get_request(self, id: str, *, authority_id: str) -> Request | None:
        return self.session.scalars(
            select(Request).where(Request.id == id, Request.authority_id == authority_id)).first()

    def lock_request(self, id: str, *, authority_id: str) -> Request | None:
        return self.session.scalars(
            select(Request).where(Request.id == id, Request.authority_id == authority_id)
            .with_for_update()).first()

    def list_requests(self, *, authority_id: str, state: str | None = None, type: str | None = None,
                      direction: str | None = None, limit: int = 100, offset: int = 0
                      ) -> Sequence[Request]:
        query = select(Request).where(Request.authority_id == authority_id)
        if state:
            query = query.where(Request.state == state)
        if type:
            query = query.where(Request.type == type)
        if direction:
            query = query.where(Request.direction == direction)
        query = query.order_by(Request.updated_at.desc(), Request.id.desc()).limit(limit).offset(offset)
        return self.session.scalars(query).all()

    def next_reference_number(self, *, party: str, year: int) -> int:
        bumped = self.session.connection().execute(_BUMP_COUNTER, {"counter_party": party, "counter_year": year}).scalar()
        if bumped is not None:
            return int(bumped)
        self._flush(ReferenceCounter(party=party, year=year, last=1))
        return 1

    def add_event(self, **values: Any) -> RequestEvent:
        return self._add(RequestEvent(**values))  # type: ignore[no-any-return]

    def list_events(self, request_id: str) -> Sequence[RequestEvent]:
        return self.session.scalars(
            select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.seq)).all()

    def find_exchange(self, exchange_id: str, *, authority_id: str) -> Request | None:
        return self.session.scalars(select(Request).where(
            Request.exchange_id == exchange_id, Request.authority_id == authority_id).with_for_update()).first()

    def find_exchanges(self, exchange_ids: Sequence[str]) -> Sequence[Request]:
        """The requests of these exchanges, whatever their authority, locked like `find_exchange`."""
        if not exchange_ids:
            return []
        return self.session.scalars(select(Request).where(Request.exchange_id.in_(exchange_ids))
                                    .with_for_update()).all()

    def lock_exchanges(self, exchange_ids: Sequence[str]) -> None:
        """Hold these exchanges until the transaction ends, whether their requests exist yet or not:
        two batches of one exchange are stored one after the other, so a step stored as waiting is
        seen by the batch that applies its predecessor. (SQLite's BEGIN IMMEDIATE already holds the
        whole database.)"""
        if exchange_ids and self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(_LOCK_EXCHANGES, {"exchanges": sorted(set(exchange_ids))})

    # keys and peers
    def add_key(self, *, kid: str, owner: str, purpose: str, public: bytes, private_encrypted: bytes,
                at: dt.datetime) -> Key:
        key = Key(kid=kid, owner=owner, purpose=purpose, public=public, private_encrypted=private_encrypted,
                  created_at=at)
        return self._flush(key)  # type: ignore[no-any-return]

    def active_key(self, *, owner: str, purpose: str) -> Key | None:
        return self.session.scalars(
            select(Key).where(Key.owner == owner, Key.purpose == purpose, Key.revoked_at.is_(None))
            .order_by(Key.created_at.desc())).first()

    def list_keys(self) -> Sequence[Key]:
        return self.session.scalars(select(Key).order_by(Key.owner, Key.created_at)).all()

    def get_key(self, kid: str) -> Key | None:
        return self.session.get(Key, kid)

    def get_peer(self, party: str) -> Peer | None:
        return self.session.get(Peer, party)

    def list_peers(self) -> Sequence[Peer]:
        return self.session.scalars(select(Peer).order_by(Peer.party)).all()

    def add_peer(self, **values: Any) -> Peer:
        return self._flush(Peer(**values))  # type: ignore[no-any-return]

    # outbox and inbox
    def add_outbox(self, **values: Any) -> OutboxMessage:
        return self._add(OutboxMessage(**values))  # type: ignore[no-any-return]

    def claim_outbox(self, *, now: dt.datetime, lease_until: dt.datetime, limit: int) -> Sequence[OutboxItem]:
        """Due messages, leased to the caller; several workers never claim the same one. (Core
        statements: the delivery lanes claim many times a second.)"""
        connection = self.session.connection()
        claimed = [OutboxItem(*row) for row in connection.execute(_CLAIM, {"due_now": now, "claim_limit": limit})]
        if claimed:
            connection.execute(_LEASE, {"leased_ids": [m.id for m in claimed], "leased_until": lease_until})
        return claimed

    def get_outbox(self, id: str) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, id)

    def list_outbox(self, *, status: str | None = None, limit: int = 100) -> Sequence[OutboxMessage]:
        query = select(OutboxMessage)
        if status:
            query = query.where(OutboxMessage.status == status)
        return self.session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit)).all()

    def get_inbox(self, id: str) -> InboxMessage | None:
        return self.session.get(InboxMessage, id)

    def add_inbox(self, **values: Any) -> InboxMessage:
        return self._add(InboxMessage(**values))  # type: ignore[no-any-return]

    def waiting_inbox(self, exchange_id: str) -> Sequence[InboxMessage]:
        return self.session.scalars(select(InboxMessage).where(
            InboxMessage.exchange_id == exchange_id, InboxMessage.status == "waiting")
            .order_by(InboxMessage.seq)).all()

    # batches: one statement for many messages
    def outbox_due(self, *, now: dt.datetime) -> bool:
        """Is any message due? (Read without a lease, so an idle worker need not take the write lock.)"""
        return self.session.connection().execute(_DUE, {"due_now": now}).first() is not None

    def outbox_items(self, ids: Sequence[str]) -> Sequence[OutboxItem]:
        if not ids:
            return []
        return [OutboxItem(*row) for row in self.session.connection().execute(_ITEMS, {"item_ids": list(ids)})]

    def mark_delivered(self, receipts: dict[str, dict[str, Any]], *, now: dt.datetime) -> None:
        """Keep each message's receipt and mark it delivered (one statement; a message no longer
        pending is left as it is)."""
        if receipts:
            self.session.connection().execute(_MARK_DELIVERED, [
                {"delivered_id": id, "delivered_now": now, "signed_receipt": receipt} for id, receipt in receipts.items()])

    def get_inboxes(self, ids: Sequence[str]) -> Sequence[InboxMessage]:
        return self.session.scalars(select(InboxMessage).where(InboxMessage.id.in_(ids))).all() if ids else []

    def waiting_exchanges(self, exchange_ids: Sequence[str]) -> set[str]:
        """Those of `exchange_ids` that have messages waiting for their turn."""
        if not exchange_ids:
            return set()
        query = (select(InboxMessage.exchange_id).distinct()
                 .where(InboxMessage.exchange_id.in_(exchange_ids), InboxMessage.status == "waiting"))
        return {e for e in self.session.scalars(query) if e is not None}

    def list_inbox(self, *, limit: int = 100) -> Sequence[InboxMessage]:
        return self.session.scalars(select(InboxMessage).order_by(InboxMessage.received_at.desc())
                                    .limit(limit)).all()

    # audit
    def audit(self, *, id: str, at: dt.datetime, actor_id: str | None, action: str, object_type: str,
              object_id: str, details: dict[str, Any]) -> None:
        self.session.add(AuditEvent(id=id, at=at, actor_id=actor_id, action=action,
                                    object_type=object_type, object_id=object_id, details=details))

    def list_audit(self, *, limit: int = 100) -> Sequence[AuditEvent]:
        return self.session.scalars(select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                    .limit(limit)).all()

    @property
    def indicators(self) -> SqlIndicatorStore:
        """The correlation index, in this transaction."""
        return SqlIndicatorStore(self.session)

    @property
    def evidence(self) -> SqlEvidenceStore:
        """Evidence packages, in this transaction."""
        return SqlEvidenceStore(self.session)

    @property
    def exchange(self) -> SqlExchangeStore:
        """Evidence packages arriving from peers, in this transaction."""
        return SqlExchangeStore(self.session)

    @property
    def transfers(self) -> SqlTransferStore:
        """Uploads and blob capabilities, in this transaction."""
        return SqlTransferStore(self.session)

    @property
    def matching(self) -> SqlMatchStore:
        """Matching between nodes: shareable marks, sessions, results, in this transaction."""
        return SqlMatchStore(self.session)

    # custody log
    @property
    def ledger(self) -> SqlLedgerStore:
        """The custody log, in this transaction: an entry commits with the change it records."""
        return SqlLedgerStore(self.session)

    # TAXII 2.1 interface and TLP recipients
    @property
    def taxii(self) -> SqlTaxiiStore:
        """Postings in TAXII order, named recipients and TAXII status resources, in this transaction."""
        return SqlTaxiiStore(self.session)


class Database:
    """An engine and a unit-of-work factory: what the entry points wire into the services."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._thread_locks: dict[str, threading.Lock] = {}
        self._thread_locks_guard = threading.Lock()
        self._factory = sessionmaker(engine, expire_on_commit=False)
        reader = make_engine(engine.url.render_as_string(hide_password=False), read_only=True) \
            if engine.dialect.name == "sqlite" else engine
        self._read_factory = sessionmaker(reader, expire_on_commit=False)

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._factory)

    def read_unit_of_work(self) -> SqlUnitOfWork:
        """For reads only: on SQLite it never waits for, nor holds, the write lock."""
        return SqlUnitOfWork(self._read_factory)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold the node-wide lock `name` across transactions: one thread of one process of the node
        at a time. On PostgreSQL a session advisory lock on a connection of its own (every process
        sharing the database waits for it; a process that dies releases it with its connection); on
        a SQLite file, an flock on a file beside it; first, a lock of this process's threads."""
        with self._thread_locks_guard:
            local = self._thread_locks.setdefault(name, threading.Lock())
        with local:
            if self.engine.dialect.name == "postgresql":
                with _advisory_lock(self.engine, name):
                    yield
            elif self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
                with _file_lock(Path(f"{self.engine.url.database}.{name}.lock")):
                    yield
            else:
                yield

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False


@contextmanager
def _advisory_lock(engine: Engine, name: str) -> Iterator[None]:
    # autocommit: the lock outlives transactions, and the connection is not left idle in one
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"SET lock_timeout = '{NODE_LOCK_TIMEOUT}'")
        try:
            connection.execute(_ADVISORY_LOCK, {"name": name})
        except SQLAlchemyError as exc:
            connection.invalidate()
            raise Conflict(f"the node lock {name!r} is held elsewhere for over {NODE_LOCK_TIMEOUT}; try again") from exc
        try:
            yield
        finally:
            try:
                connection.execute(_ADVISORY_UNLOCK, {"name": name})
            except SQLAlchemyError:
                connection.invalidate()  # closing the session releases its locks


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor closes, or the process dies
        yield
    finally:
        os.close(fd)
