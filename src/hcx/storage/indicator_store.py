"""The local correlation index in SQL (SQLite and PostgreSQL), bound to one session.

Every query names the authority: an authority's postings are invisible to every other. Writes
are idempotent: a posting is unique per (key, authority, country, case) and inserted with ON CONFLICT
DO NOTHING, so a re-import, or two imports racing, leave one row. That unique index is the only one
on the key (migration 0011 adds the TAXII feed's (authority, first_seen, id)): it serves point lookups
(key first), re-import checks, and `GROUP BY key` with `count(*)` (the number of distinct cases: one
row per key and case) or `min(country) <> max(country)` (cross-country) as a covering scan. Inserts
are Core executemany in large batches, never ORM objects; a bulk load hands tuples to the driver.

`indicator_shared_keys` (migration 0013) summarises the index per key: one row per key held by two
cases or more, with the number of cases and whether they cross a border. Every write of postings
(`add_postings`, `load_postings`) recomputes the rows of the keys it wrote from the postings, in its
own transaction and with the authority's postings held (`lock_postings`), so the summary is always
what the full recomputation gives (`shared_keys_recomputed`). The cross-country report, the links
and the generic values read the summary instead of every posting.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hcx.storage import bulk
from hcx.storage.indicator_models import IndicatorAlert, IndicatorIndexKey, IndicatorPosting, IndicatorSharedKey
from hcx.storage.models import UTCDateTime

_SECRET_ID = 1
_MAX_KEYS_PER_QUERY = 400
_ROWS_PER_INSERT = 5000
_ROWS_PER_BULK_INSERT = 50_000
_UNIQUE_INDEX = "uq_indicator_postings"


_LOOKUP_COLUMNS = (IndicatorPosting.key, IndicatorPosting.case_ref, IndicatorPosting.country, IndicatorPosting.origin)
_BY_KEY = select(*_LOOKUP_COLUMNS).where(IndicatorPosting.key == bindparam("key"),
                                         IndicatorPosting.authority_id == bindparam("authority"))


@functools.lru_cache(maxsize=64)
def _by_keys_sql(count: int, mark: str) -> str:
    return ("SELECT key, case_ref, country, origin FROM indicator_postings "  # noqa: S608 - placeholders only
            f"WHERE key IN ({', '.join(mark for _ in range(count))}) AND authority_id = {mark}")


@functools.lru_cache(maxsize=64)
def _refresh_sql(count: int, mark: str) -> tuple[str, str]:
    """Recompute the summary rows of `count` keys of one authority from their postings."""
    keys = ", ".join(mark for _ in range(count))
    return (f"DELETE FROM indicator_shared_keys WHERE authority_id = {mark} AND key IN ({keys})",  # noqa: S608
            "INSERT INTO indicator_shared_keys (authority_id, key, cases, cross_border) "  # noqa: S608 - placeholders only
            "SELECT authority_id, key, count(*), min(country) <> max(country) FROM indicator_postings "
            f"WHERE key IN ({keys}) AND authority_id = {mark} GROUP BY authority_id, key HAVING count(*) >= 2")


# a transaction-scoped advisory lock per authority: writers of one authority's postings take turns
_LOCK_POSTINGS = text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))")


@dataclass(frozen=True, slots=True)
class PostingRow:
    """What a lookup needs of a posting: no value, no markings."""

    key: bytes
    case_ref: str
    country: str
    origin: str


class SqlIndicatorStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- the node's index secret ------------------------------------------------------------

    def secret(self) -> bytes | None:
        row = self.session.get(IndicatorIndexKey, _SECRET_ID)
        return bytes(row.secret) if row else None

    def create_secret(self, secret: bytes, at: dt.datetime) -> bytes:
        """Store `secret` unless a secret exists; return the one stored (a racing writer's may win)."""
        try:
            with self.session.begin_nested():
                self.session.add(IndicatorIndexKey(id=_SECRET_ID, secret=secret, created_at=at))
        except IntegrityError:
            pass
        stored = self.secret()
        assert stored is not None
        return stored

    # --- postings ---------------------------------------------------------------------------

    def known_keys(self, *, authority_id: str, case_ref: str, keys: Iterable[bytes], country: str = "") -> set[bytes]:
        """Which of `keys` the case (of `country`; "" = any) already has."""
        found = set[bytes]()
        for posting in self.postings_for_keys(authority_id=authority_id, keys=keys):
            if posting.case_ref == case_ref and (not country or posting.country == country):
                found.add(posting.key)
        return found

    def postings_for_keys(self, *, authority_id: str, keys: Iterable[bytes]) -> list[PostingRow]:
        """Every posting of the authority under any of `keys`: one indexed lookup per key, batched
        (`key IN (…)`); the statements are built once and run on the connection (no ORM objects)."""
        wanted, found = list(dict.fromkeys(keys)), list[PostingRow]()
        connection = self.session.connection()
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        for start in range(0, len(wanted), _MAX_KEYS_PER_QUERY):
            chunk = wanted[start : start + _MAX_KEYS_PER_QUERY]
            if len(chunk) == 1:
                rows: Any = connection.execute(_BY_KEY, {"key": chunk[0], "authority": authority_id})
            else:  # the driver's own statement: rendering 400 bound parameters costs more than the lookups
                sql = _by_keys_sql(len(chunk), mark)
                rows = connection.exec_driver_sql(sql, (*chunk, authority_id))
            found.extend(PostingRow(bytes(key), case_ref, country, origin) for key, case_ref, country, origin in rows)
        return found

    def lock_postings(self, authority_ids: Iterable[str]) -> None:
        """Hold the authorities' postings until the transaction ends: another writer of them waits,
        so what this one reads of them stays true until it commits (the summary recomputed from them,
        the links found at ingest). SQLite's BEGIN IMMEDIATE already holds the whole database; on
        PostgreSQL a transaction-scoped advisory lock per authority, taken in sorted order."""
        if self.session.get_bind().dialect.name == "postgresql":
            for authority_id in sorted(set(authority_ids)):
                self.session.execute(_LOCK_POSTINGS, {"name": f"hcx indicator postings {authority_id}"})

    def add_postings(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert postings (dicts of the columns but id); one already there is left as it is. The
        summary rows of their keys are recomputed in the same transaction."""
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(IndicatorPosting).on_conflict_do_nothing(
            index_elements=["key", "authority_id", "country", "case_ref"])
        by_authority: dict[str, list[bytes]] = {}
        for row in rows:
            by_authority.setdefault(row["authority_id"], []).append(row["key"])
        self.lock_postings(by_authority)
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            self.session.execute(statement, list(rows[start : start + _ROWS_PER_INSERT]))
        for authority_id, keys in by_authority.items():
            self.refresh_shared_keys(authority_id=authority_id, keys=keys)

    def refresh_shared_keys(self, *, authority_id: str, keys: Iterable[bytes]) -> None:
        """Recompute the summary rows of `keys` from the authority's postings (a key now in fewer than
        two cases loses its row): one indexed lookup per key, batched. Call it in the transaction that
        changed the postings, with them held (`lock_postings`)."""
        wanted = list(dict.fromkeys(keys))
        connection = self.session.connection()
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        for start in range(0, len(wanted), _MAX_KEYS_PER_QUERY):
            chunk = wanted[start : start + _MAX_KEYS_PER_QUERY]
            forget, recompute = _refresh_sql(len(chunk), mark)
            connection.exec_driver_sql(forget, (authority_id, *chunk))
            connection.exec_driver_sql(recompute, (*chunk, authority_id))

    def rebuild_shared_keys(self, *, authority_id: str) -> None:
        """Recompute the authority's whole summary from its postings (after a bulk load that rebuilt
        the index anyway, or to repair it): one covering scan of the index."""
        self.session.execute(delete(IndicatorSharedKey).where(IndicatorSharedKey.authority_id == authority_id))
        recomputed = self._shared_keys_query(authority_id)
        self.session.execute(IndicatorSharedKey.__table__.insert().from_select(  # type: ignore[attr-defined]
            ["authority_id", "key", "cases", "cross_border"],
            select(literal(authority_id), recomputed.c.key, recomputed.c.cases, recomputed.c.cross_border)))

    def _shared_keys_query(self, authority_id: str) -> Any:
        """(key, cases, cross_border) of every key in two cases or more, recomputed from the postings.

        SQLite: a covering scan counting cases per key, then `min(country) <> max(country)` on the
        shared keys only (measured 1.6× faster than both in one pass, 1.2× faster than
        `count(DISTINCT country)`). PostgreSQL: `count(DISTINCT country)` on the index (its hash plan
        for min/max spills; building-blocks.md §6)."""
        posting = IndicatorPosting
        if self.session.get_bind().dialect.name == "postgresql":
            return (select(posting.key, func.count().label("cases"),
                           (func.count(posting.country.distinct()) > 1).label("cross_border"))
                    .where(posting.authority_id == authority_id).group_by(posting.key)
                    .having(func.count() >= 2).subquery())
        shared = (select(posting.key, func.count().label("cases")).where(self._scanned_by_key(authority_id))
                  .group_by(posting.key).having(func.count() >= 2).subquery())
        return (select(shared.c.key, shared.c.cases,
                       (func.min(posting.country) != func.max(posting.country)).label("cross_border"))
                .select_from(shared)
                .join(posting, (posting.key == shared.c.key) & (posting.authority_id == authority_id))
                .group_by(shared.c.key, shared.c.cases).subquery())

    def shared_keys(self, *, authority_id: str) -> dict[bytes, tuple[int, bool]]:
        """The authority's summary as stored: key → (cases, cross_border)."""
        rows = self.session.execute(select(IndicatorSharedKey.key, IndicatorSharedKey.cases,
                                           IndicatorSharedKey.cross_border)
                                    .where(IndicatorSharedKey.authority_id == authority_id))
        return {bytes(key): (int(cases), bool(cross)) for key, cases, cross in rows}

    def shared_keys_recomputed(self, *, authority_id: str) -> dict[bytes, tuple[int, bool]]:
        """The summary as the postings give it now (the oracle of `shared_keys`; a full scan)."""
        recomputed = self._shared_keys_query(authority_id)
        rows = self.session.execute(select(recomputed.c.key, recomputed.c.cases, recomputed.c.cross_border))
        return {bytes(key): (int(cases), bool(cross)) for key, cases, cross in rows}

    def markings_for(self, *, authority_id: str, case_ref: str, country: str, keys: Iterable[bytes]) -> dict[bytes, str]:
        """The markings (`tlp` text) of the case's postings under `keys`."""
        wanted, found = list(dict.fromkeys(keys)), dict[bytes, str]()
        for start in range(0, len(wanted), _MAX_KEYS_PER_QUERY):
            rows = self.session.execute(
                select(IndicatorPosting.key, IndicatorPosting.tlp)
                .where(IndicatorPosting.authority_id == authority_id, IndicatorPosting.case_ref == case_ref,
                       IndicatorPosting.country == country,
                       IndicatorPosting.key.in_(wanted[start : start + _MAX_KEYS_PER_QUERY])))
            found.update((bytes(key), tlp) for key, tlp in rows)
        return found

    def set_markings(self, *, authority_id: str, case_ref: str, country: str, markings: dict[bytes, str]) -> None:
        """Replace the markings of the case's postings under the given keys."""
        for key, tlp in markings.items():
            self.session.execute(
                update(IndicatorPosting)
                .where(IndicatorPosting.authority_id == authority_id, IndicatorPosting.case_ref == case_ref,
                       IndicatorPosting.country == country, IndicatorPosting.key == key)
                .values(tlp=tlp))

    def load_postings(self, rows: Iterable[tuple[Any, ...]], *, columns: Sequence[str],
                      constants: Mapping[str, Any] | None = None, build_index_after: bool) -> int:
        """Bulk load: insert postings that are unique and not yet in the index, in large batches
        through the driver's executemany. Each row is a tuple of `columns`; `constants` are columns
        with one value for every row (the authority, the load's time stamp …), converted once and
        bound with each row. Columns given neither way keep their database default.

        `build_index_after` drops the unique index and builds it once all rows are in (a sort instead
        of random B-tree inserts: building-blocks.md §6 measured 7×); the rebuild fails, and the
        transaction with it, if a row was not unique. The summary of each authority loaded is then
        recomputed whole (one covering scan of the index just built); without it, the summary rows of
        each batch's keys are. It all happens in the caller's transaction: a crash or an error leaves
        the index and its summary as they were, without one posting of the load. Other writers of the
        authority wait (`lock_postings`, then the index's table on PostgreSQL): run it for a first or
        national load, not beside live imports. `rows` may be a
        generator (taken 50,000 at a time, so worker processes can normalise the next ones
        meanwhile). Returns the number of rows written."""
        table = IndicatorPosting.__table__
        index = next(i for i in table.indexes if i.name == _UNIQUE_INDEX)  # type: ignore[attr-defined]
        fixed = dict(constants or {})
        by_name = {c.name: c for c in table.columns}  # type: ignore[attr-defined]
        names = [*columns, *fixed]
        if len(set(names)) != len(names) or not set(names) <= by_name.keys() - {"id"}:
            raise ValueError(f"expected posting columns but id, each once: {names}")
        connection = self.session.connection()
        dialect = connection.dialect
        placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "  # type: ignore[attr-defined]  # noqa: S608 - names from our model
               f"VALUES ({', '.join(placeholder for _ in names)})")
        # bytes and text go to the driver as they are; time stamps take the dialect's own conversion
        # (on SQLite to SQLAlchemy's text form, as every other write stores them)
        processors: dict[str, Callable[[Any], Any]] = {}
        for name in names:
            column_type = by_name[name].type
            process = column_type.dialect_impl(dialect).bind_processor(dialect) \
                if isinstance(column_type, UTCDateTime) else None
            if process is not None:
                processors[name] = process
        tail = tuple(processors[name](value) if name in processors else value for name, value in fixed.items())
        varying = [(position, processors[name]) for position, name in enumerate(columns) if name in processors]

        def prepared(chunk: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            for position, process in varying:  # per distinct time stamp, not per row
                memo = {value: process(value) for value in {row[position] for row in chunk}}
                chunk = [(*row[:position], memo[row[position]], *row[position + 1:]) for row in chunk]
            return [row + tail for row in chunk] if tail else chunk

        if "key" not in columns:
            raise ValueError("a bulk load names the key of each posting")
        key_at = columns.index("key")
        authority_at = columns.index("authority_id") if "authority_id" in columns else None

        def authorities_of(chunk: list[tuple[Any, ...]]) -> set[str]:
            if authority_at is None:
                return {fixed["authority_id"]} if "authority_id" in fixed else set()
            return {row[authority_at] for row in chunk}

        def keys_by_authority(chunk: list[tuple[Any, ...]]) -> dict[str, list[bytes]]:
            if authority_at is None:
                return {fixed["authority_id"]: [row[key_at] for row in chunk]} if "authority_id" in fixed else {}
            found: dict[str, list[bytes]] = {}
            for row in chunk:
                found.setdefault(row[authority_at], []).append(row[key_at])
            return found

        source = iter(rows)
        chunk = list(itertools.islice(source, _ROWS_PER_BULK_INSERT))
        if not chunk:
            return 0
        loaded = authorities_of(chunk)
        self.lock_postings(loaded)  # before the index's table lock, as an import takes them
        if build_index_after:
            index.drop(connection)  # on PostgreSQL this holds the table until the transaction ends
        written = 0
        while chunk:
            if authority_at is not None:
                more = authorities_of(chunk) - loaded
                self.lock_postings(more)
                loaded |= more
            connection.exec_driver_sql(sql, prepared(chunk))
            written += len(chunk)
            if not build_index_after:
                for authority_id, keys in keys_by_authority(chunk).items():
                    self.refresh_shared_keys(authority_id=authority_id, keys=keys)
            chunk = list(itertools.islice(source, _ROWS_PER_BULK_INSERT))
        if build_index_after:
            self._create_sorting_on_all_cores(index)
            for authority_id in sorted(loaded):
                self.rebuild_shared_keys(authority_id=authority_id)
        return written

    def _create_sorting_on_all_cores(self, index: Any) -> None:
        """Build `index`; on SQLite with its sorter's worker threads (10 M postings: 11.9 s -> 9.0 s on
        two cores), then back to the connection's default."""
        connection = self.session.connection()
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.exec_driver_sql(f"PRAGMA threads = {os.cpu_count() or 1}")
        try:
            index.create(connection)
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA threads = 0")

    def postings_for(self, *, authority_id: str, key: bytes) -> Sequence[IndicatorPosting]:
        return self.session.scalars(select(IndicatorPosting)
                                    .where(IndicatorPosting.authority_id == authority_id, IndicatorPosting.key == key)
                                    .order_by(IndicatorPosting.case_ref)).all()

    def count(self, *, authority_id: str, case_ref: str | None = None) -> int:
        query = select(func.count()).select_from(IndicatorPosting).where(IndicatorPosting.authority_id == authority_id)
        if case_ref is not None:
            query = query.where(IndicatorPosting.case_ref == case_ref)
        return int(self.session.scalar(query) or 0)

    def _scanned_by_key(self, authority_id: str) -> ColumnElement[bool]:
        """`authority_id = …` for reads of the authority's postings by key, which should use the unique
        index (key first, covering, in key order). Without statistics SQLite takes the TAXII feed's
        index (authority_id first, migration 0011) for the equality instead, looks every posting up in
        the table and sorts by key: the 10 M-posting link report took 25 s instead of ~6 s.
        `authority_id || ''` is the same test with no index to offer."""
        if self.session.get_bind().dialect.name == "sqlite":
            return IndicatorPosting.authority_id.concat("") == authority_id
        return IndicatorPosting.authority_id == authority_id

    def shared_postings(self, *, authority_id: str, max_cases: int) -> Sequence[IndicatorPosting]:
        """The postings of every key found in 2 to `max_cases` cases of the authority, by key and case
        (the keys from the summary, their postings by key)."""
        shared = (select(IndicatorSharedKey.key).where(IndicatorSharedKey.authority_id == authority_id,
                                                       IndicatorSharedKey.cases <= max_cases).subquery())
        return self.session.scalars(
            select(IndicatorPosting).join(shared, shared.c.key == IndicatorPosting.key)
            .where(self._scanned_by_key(authority_id))
            .order_by(IndicatorPosting.key, IndicatorPosting.case_ref)).all()

    def generic_keys(self, *, authority_id: str, max_cases: int) -> list[tuple[str, str, int]]:
        """(kind, value, number of cases) of every key found in more than `max_cases` cases."""
        hot = (select(IndicatorSharedKey.key, IndicatorSharedKey.cases)
               .where(IndicatorSharedKey.authority_id == authority_id, IndicatorSharedKey.cases > max_cases)
               .subquery())
        rows = self.session.execute(
            select(IndicatorPosting.kind, func.min(IndicatorPosting.value), hot.c.cases)
            .join(hot, hot.c.key == IndicatorPosting.key)
            .where(self._scanned_by_key(authority_id))
            .group_by(IndicatorPosting.key, IndicatorPosting.kind, hot.c.cases)
            .order_by(hot.c.cases.desc(), IndicatorPosting.kind))
        return [(kind, value, int(cases)) for kind, value, cases in rows]

    def cross_country_keys(self, *, authority_id: str, max_cases: int) -> list[tuple[bytes, int]]:
        """(key, cases) of every key of the authority found in 2 to `max_cases` cases of more than one
        country, in key order: the full cross-country link report, read from the summary (its
        cross-border rows only, through their index)."""
        shared = IndicatorSharedKey
        rows = self.session.execute(
            select(shared.key, shared.cases)
            .where(shared.authority_id == authority_id, shared.cross_border, shared.cases <= max_cases)
            .order_by(shared.key))
        return [(bytes(key), int(cases)) for key, cases in rows]

    def cross_country_postings(self, *, authority_id: str, max_cases: int) -> list[tuple[bytes, str, str, str, str]]:
        """(key, kind, value, country, case_ref) of every posting under the keys `cross_country_keys`
        gives, in key order: one statement (the summary's rows, then each key's postings by the
        unique index), no ORM objects."""
        shared, posting = IndicatorSharedKey, IndicatorPosting
        rows = self.session.execute(
            select(posting.key, posting.kind, posting.value, posting.country, posting.case_ref)
            .select_from(shared).join(posting, posting.key == shared.key)
            .where(shared.authority_id == authority_id, shared.cross_border, shared.cases <= max_cases,
                   self._scanned_by_key(authority_id))
            .order_by(shared.key))
        return [(bytes(key), kind, value, country, case_ref) for key, kind, value, country, case_ref in rows]

    def cross_country_keys_recomputed(self, *, authority_id: str, max_cases: int) -> list[tuple[bytes, int]]:
        """What `cross_country_keys` gives, recomputed from every posting (the check of the summary)."""
        recomputed = self._shared_keys_query(authority_id)
        rows = self.session.execute(select(recomputed.c.key, recomputed.c.cases)
                                    .where(recomputed.c.cross_border, recomputed.c.cases <= max_cases)
                                    .order_by(recomputed.c.key))
        return [(bytes(key), int(cases)) for key, cases in rows]

    # --- alerts -----------------------------------------------------------------------------

    def add_alerts(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert alerts (dicts of every column); a link already alerted is left as it is. Returns
        how many were new."""
        return bulk.insert_new(self.session.connection(), IndicatorAlert.__table__, rows,  # type: ignore[arg-type]
                               unique=["authority_id", "key", "case_ref", "other_country", "other_case_ref"])

    def alerts(self, *, authority_id: str, open_only: bool, limit: int, offset: int) -> Sequence[IndicatorAlert]:
        query = select(IndicatorAlert).where(IndicatorAlert.authority_id == authority_id)
        if open_only:
            query = query.where(IndicatorAlert.acknowledged_at.is_(None))
        return self.session.scalars(query.order_by(IndicatorAlert.created_at.desc(), IndicatorAlert.id)
                                    .limit(limit).offset(offset)).all()

    def alert(self, *, authority_id: str, alert_id: str) -> IndicatorAlert | None:
        return self.session.scalars(select(IndicatorAlert).where(IndicatorAlert.authority_id == authority_id,
                                                                 IndicatorAlert.id == alert_id)).first()

    def acknowledge_alert(self, *, authority_id: str, alert_id: str, user_id: str, at: dt.datetime) -> bool:
        """Mark an open alert acknowledged; False if it was not open."""
        result = self.session.execute(
            update(IndicatorAlert).where(IndicatorAlert.authority_id == authority_id, IndicatorAlert.id == alert_id,
                                         IndicatorAlert.acknowledged_at.is_(None))
            .values(acknowledged_at=at, acknowledged_by=user_id))
        return bool(getattr(result, "rowcount", 0))

    def record_alert_request(self, *, authority_id: str, alert_id: str, request_id: str) -> None:
        """The draft request opened from an alert."""
        self.session.execute(update(IndicatorAlert).where(IndicatorAlert.authority_id == authority_id,
                                                          IndicatorAlert.id == alert_id)
                             .values(request_id=request_id))
