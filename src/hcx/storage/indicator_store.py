"""The local correlation index in SQL (SQLite and PostgreSQL), bound to one session.

Every query names the authority: an authority's postings are invisible to every other. Writes
are idempotent: a posting is unique per (key, case, authority) and inserted with ON CONFLICT DO
NOTHING, so a re-import, or two imports racing, leave one row. Linked cases are found by
`GROUP BY key HAVING count(*) > 1` over the (authority_id, key) index (count(*) is the number of
distinct cases: the unique constraint allows one row per key and case in an authority).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hcx.storage.indicator_models import IndicatorIndexKey, IndicatorPosting

_SECRET_ID = 1
_MAX_KEYS_PER_QUERY = 400
_ROWS_PER_INSERT = 1000


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

    def known_keys(self, *, authority_id: str, case_ref: str, keys: Iterable[bytes]) -> set[bytes]:
        """Which of `keys` the case already has."""
        wanted, found = list(dict.fromkeys(keys)), set[bytes]()
        for start in range(0, len(wanted), _MAX_KEYS_PER_QUERY):
            chunk = wanted[start : start + _MAX_KEYS_PER_QUERY]
            found.update(bytes(k) for k in self.session.scalars(
                select(IndicatorPosting.key).where(IndicatorPosting.authority_id == authority_id,
                                                   IndicatorPosting.case_ref == case_ref,
                                                   IndicatorPosting.key.in_(chunk))))
        return found

    def add_postings(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert postings (dicts of the columns but id); one already there is left as it is."""
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(IndicatorPosting).on_conflict_do_nothing(
            index_elements=["key", "case_ref", "authority_id"])
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            self.session.execute(statement, list(rows[start : start + _ROWS_PER_INSERT]))

    def postings_for(self, *, authority_id: str, key: bytes) -> Sequence[IndicatorPosting]:
        return self.session.scalars(select(IndicatorPosting)
                                    .where(IndicatorPosting.authority_id == authority_id, IndicatorPosting.key == key)
                                    .order_by(IndicatorPosting.case_ref)).all()

    def count(self, *, authority_id: str, case_ref: str | None = None) -> int:
        query = select(func.count()).select_from(IndicatorPosting).where(IndicatorPosting.authority_id == authority_id)
        if case_ref is not None:
            query = query.where(IndicatorPosting.case_ref == case_ref)
        return int(self.session.scalar(query) or 0)

    def _cases_per_key(self, authority_id: str) -> Any:
        return (select(IndicatorPosting.key, func.count().label("cases"))
                .where(IndicatorPosting.authority_id == authority_id)
                .group_by(IndicatorPosting.key))

    def shared_postings(self, *, authority_id: str, max_cases: int) -> Sequence[IndicatorPosting]:
        """The postings of every key found in 2 to `max_cases` cases of the authority, by key and case."""
        shared = self._cases_per_key(authority_id).having(func.count().between(2, max_cases)).subquery()
        return self.session.scalars(
            select(IndicatorPosting).join(shared, shared.c.key == IndicatorPosting.key)
            .where(IndicatorPosting.authority_id == authority_id)
            .order_by(IndicatorPosting.key, IndicatorPosting.case_ref)).all()

    def generic_keys(self, *, authority_id: str, max_cases: int) -> list[tuple[str, str, int]]:
        """(kind, value, number of cases) of every key found in more than `max_cases` cases."""
        hot = self._cases_per_key(authority_id).having(func.count() > max_cases).subquery()
        rows = self.session.execute(
            select(IndicatorPosting.kind, func.min(IndicatorPosting.value), hot.c.cases)
            .join(hot, hot.c.key == IndicatorPosting.key)
            .where(IndicatorPosting.authority_id == authority_id)
            .group_by(IndicatorPosting.key, IndicatorPosting.kind, hot.c.cases)
            .order_by(hot.c.cases.desc(), IndicatorPosting.kind))
        return [(kind, value, int(cases)) for kind, value, cases in rows]
