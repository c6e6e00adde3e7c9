"""What the TAXII interface reads and writes, bound to one session (SQLite and PostgreSQL).

Postings are only *read* here, in the order TAXII pages them: by (first_seen, id), which is the
order they were added. Recipients and status resources are this module's own tables. Every query
names the authority.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hcx.storage.indicator_models import IndicatorPosting
from hcx.storage.taxii_models import IndicatorRecipient, TaxiiStatus

_MAX_ITEMS_PER_QUERY = 300
_MAX_KEYS_PER_QUERY = 1000  # one bound parameter each
_FEED_COLUMNS = (IndicatorPosting.id, IndicatorPosting.key, IndicatorPosting.kind, IndicatorPosting.value, IndicatorPosting.case_ref,
                 IndicatorPosting.first_seen, IndicatorPosting.tlp)
_SCAN_BATCH = 2000


@functools.lru_cache(maxsize=64)
def _postings_of_sql(count: int, mark: str) -> str:
    return ("SELECT key, case_ref, kind, value, tlp FROM indicator_postings "  # noqa: S608 - placeholders only
            f"WHERE key IN ({', '.join(mark for _ in range(count))}) AND authority_id = {mark}")


class SqlTaxiiStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- postings, read in TAXII order ------------------------------------------------------

    def postings_page(self, *, authority_id: str, added_after: dt.datetime | None,
                      after: tuple[dt.datetime, int] | None, limit: int) -> Sequence[Any]:
        """Up to `limit` postings of the authority, by (first_seen, id), strictly after `after`: rows of
        (id, key, kind, value, case_ref, first_seen, tlp), not ORM objects (4x cheaper per row)."""
        query = select(*_FEED_COLUMNS).where(IndicatorPosting.authority_id == authority_id)
        if added_after is not None:
            query = query.where(IndicatorPosting.first_seen > added_after)
        if after is not None:
            seen, posting_id = after
            resume = tuple_(literal(seen, IndicatorPosting.first_seen.type), literal(posting_id, IndicatorPosting.id.type))
            query = query.where(tuple_(IndicatorPosting.first_seen, IndicatorPosting.id) > resume)
        return self.session.execute(query.order_by(IndicatorPosting.first_seen, IndicatorPosting.id)
                                    .limit(limit)).all()

    def all_postings(self, *, authority_id: str) -> Iterator[Any]:
        """Every posting of the authority, in TAXII order, read in batches."""
        after: tuple[dt.datetime, int] | None = None
        while True:
            batch = self.postings_page(authority_id=authority_id, added_after=None, after=after, limit=_SCAN_BATCH)
            yield from batch
            if len(batch) < _SCAN_BATCH:
                return
            after = (batch[-1].first_seen, batch[-1].id)

    def postings_of(self, *, authority_id: str, keys: Iterable[bytes]) -> list[tuple[bytes, str, str, str, str]]:
        """(key, case_ref, kind, value, tlp) of every posting of the authority under one of `keys` (a
        key is one value), whatever its case: the TLP rule looks at all of them. Key first: the
        unique index answers it; the driver's own statement, as for the index's lookups (binding a
        thousand parameters through the SQL compiler costs more than the query)."""
        wanted = list(dict.fromkeys(keys))
        found: list[tuple[bytes, str, str, str, str]] = []
        connection = self.session.connection()
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        for start in range(0, len(wanted), _MAX_KEYS_PER_QUERY):
            chunk = wanted[start : start + _MAX_KEYS_PER_QUERY]
            rows = connection.exec_driver_sql(_postings_of_sql(len(chunk), mark), (*chunk, authority_id))
            found.extend((bytes(key), case_ref, kind, value, tlp) for key, case_ref, kind, value, tlp in rows)
        return found

    # --- recipients named for TLP:AMBER -----------------------------------------------------

    def recipients(self, *, authority_id: str, items: Iterable[tuple[str, str, str]]
                   ) -> dict[tuple[str, str, str], set[str]]:
        """The recipients named for each (case_ref, kind, value) that has any."""
        wanted = list(dict.fromkeys(items))
        found: dict[tuple[str, str, str], set[str]] = {}
        for start in range(0, len(wanted), _MAX_ITEMS_PER_QUERY):
            chunk = wanted[start : start + _MAX_ITEMS_PER_QUERY]
            rows = self.session.execute(
                select(IndicatorRecipient.case_ref, IndicatorRecipient.kind, IndicatorRecipient.value,
                       IndicatorRecipient.recipient)
                .where(IndicatorRecipient.authority_id == authority_id,
                       tuple_(IndicatorRecipient.case_ref, IndicatorRecipient.kind, IndicatorRecipient.value)
                       .in_(chunk)))
            for case_ref, kind, value, recipient in rows:
                found.setdefault((case_ref, kind, value), set()).add(recipient)
        return found

    def add_recipients(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert (authority_id, case_ref, kind, value, recipient) rows; one already there stays."""
        if not rows:
            return
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        self.session.execute(insert(IndicatorRecipient).on_conflict_do_nothing(
            index_elements=["authority_id", "case_ref", "kind", "value", "recipient"]), list(rows))

    # --- status resources -------------------------------------------------------------------

    def add_status(self, **columns: Any) -> None:
        self.session.add(TaxiiStatus(**columns))
        self.session.flush()

    def status(self, *, authority_id: str, status_id: str) -> TaxiiStatus | None:
        found = self.session.get(TaxiiStatus, status_id)
        return found if found is not None and found.authority_id == authority_id else None
