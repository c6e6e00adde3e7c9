"""Matching between nodes in SQL (SQLite and PostgreSQL), bound to one session.

The shareable set of an authority is its postings that carry a shareable mark and whose value TLP
lets go to the peer (services/matching.py decides, over every posting of the value), read by a
join with the correlation index (which this module only reads).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hcx.storage import bulk
from hcx.storage.indicator_models import IndicatorPosting
from hcx.storage.matching_models import MatchChunk, MatchResult, MatchSession, MatchShareable
from hcx.storage.taxii_models import IndicatorRecipient

_ROWS_PER_INSERT = 1000
_KEYS_PER_QUERY = 400
# the marks (kind NULL) and the postings in one statement: one snapshot on PostgreSQL too (read
# committed gives each statement its own: a change committed between two reads would mix them)
_MARKS_AND_POSTINGS = ('SELECT "key", NULL, NULL, case_ref, NULL FROM match_shareable WHERE authority_id = ? '
                       'UNION ALL SELECT "key", kind, value, case_ref, tlp FROM indicator_postings '
                       'WHERE authority_id = ?')
_MARKS_AND_POSTINGS_OF_MARKED = ('SELECT "key", NULL, NULL, case_ref, NULL FROM match_shareable WHERE authority_id = ? '
                                 'UNION ALL SELECT "key", kind, value, case_ref, tlp FROM indicator_postings '
                                 'WHERE authority_id = ? AND "key" IN (SELECT "key" FROM match_shareable '
                                 'WHERE authority_id = ?)')


class SqlMatchStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _insert(self, model: Any, index_elements: list[str]) -> Any:
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        return insert(model).on_conflict_do_nothing(index_elements=index_elements)

    # --- shareable marks ----------------------------------------------------------------------

    def mark_shareable(self, *, authority_id: str, case_ref: str, keys: Iterable[bytes] | None,
                       at: dt.datetime) -> int:
        """Mark the case's postings (all, or those with `keys`) shareable; return how many postings
        of the case are marked now."""
        query = select(IndicatorPosting.key).where(IndicatorPosting.authority_id == authority_id,
                                                   IndicatorPosting.case_ref == case_ref)
        found: list[bytes] = []
        if keys is None:
            found = [bytes(k) for k in self.session.scalars(query)]
        else:
            wanted = list(dict.fromkeys(keys))
            for start in range(0, len(wanted), _KEYS_PER_QUERY):
                found += [bytes(k) for k in self.session.scalars(
                    query.where(IndicatorPosting.key.in_(wanted[start:start + _KEYS_PER_QUERY])))]
        rows = [{"authority_id": authority_id, "case_ref": case_ref, "key": k, "marked_at": at} for k in found]
        statement = self._insert(MatchShareable, ["authority_id", "key", "case_ref"])
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            self.session.execute(statement, rows[start:start + _ROWS_PER_INSERT])
        return int(self.session.scalar(select(func.count()).select_from(MatchShareable).where(
            MatchShareable.authority_id == authority_id, MatchShareable.case_ref == case_ref)) or 0)

    def unmark_shareable(self, *, authority_id: str, case_ref: str) -> int:
        result = self.session.execute(delete(MatchShareable).where(MatchShareable.authority_id == authority_id,
                                                                   MatchShareable.case_ref == case_ref))
        return int(getattr(result, "rowcount", 0) or 0)

    def shareable_postings(self, *, authority_id: str) -> list[tuple[bytes, str, str, str, str]]:
        """(key, kind, value, case_ref, tlp) of every posting of the authority marked shareable."""
        rows = self.session.execute(
            select(IndicatorPosting.key, IndicatorPosting.kind, IndicatorPosting.value, IndicatorPosting.case_ref,
                   IndicatorPosting.tlp)
            .join(MatchShareable, (MatchShareable.authority_id == IndicatorPosting.authority_id)
                  & (MatchShareable.key == IndicatorPosting.key) & (MatchShareable.case_ref == IndicatorPosting.case_ref))
            .where(IndicatorPosting.authority_id == authority_id))
        return [(bytes(key), kind, value, case_ref, tlp) for key, kind, value, case_ref, tlp in rows]

    def shared_value_postings(self, *, authority_id: str, scan_fraction: int = 8
                              ) -> list[tuple[bytes, str, str, str, str, bool]]:
        """(key, kind, value, case_ref, tlp, marked) of every posting of the authority whose value has a
        posting marked shareable: the TLP rule looks at all postings of a value, marked or not.

        Two plain reads in one statement (one snapshot), joined here: the marks, and the postings —
        by key, or in one pass over all of the authority's when the marks are at least
        1/`scan_fraction` of them (a lookup per key reads pages in random order: in SQLite 1 M
        lookups took 3.7 s of CPU, one pass over 1 M postings 1.0 s). Read as the driver's tuples:
        SQLAlchemy's rows cost 1 µs each, and a set is a million rows."""
        marks = self.session.scalar(select(func.count()).select_from(MatchShareable)
                                    .where(MatchShareable.authority_id == authority_id)) or 0
        if not marks:
            return []
        total = self.session.scalar(select(func.count()).select_from(IndicatorPosting)
                                    .where(IndicatorPosting.authority_id == authority_id)) or 0
        by_key = marks * scan_fraction < total
        rows = bulk.driver_rows(self.session.connection(),
                                _MARKS_AND_POSTINGS_OF_MARKED if by_key else _MARKS_AND_POSTINGS,
                                (authority_id, authority_id, authority_id) if by_key else (authority_id, authority_id))
        marked = {(key, case_ref) for key, kind, _, case_ref, _ in rows if kind is None}
        keys = {key for key, _ in marked}
        return [(key, kind, value, case_ref, tlp, (key, case_ref) in marked)
                for key, kind, value, case_ref, tlp in rows if kind is not None and key in keys]

    def named_recipients(self, *, authority_id: str) -> dict[tuple[str, str, str], set[str]]:
        """The recipients the authority named, per (case_ref, kind, value)."""
        found: dict[tuple[str, str, str], set[str]] = {}
        rows = self.session.execute(
            select(IndicatorRecipient.case_ref, IndicatorRecipient.kind, IndicatorRecipient.value,
                   IndicatorRecipient.recipient).where(IndicatorRecipient.authority_id == authority_id))
        for case_ref, kind, value, recipient in rows:
            found.setdefault((case_ref, kind, value), set()).add(recipient)
        return found

    # --- sessions -----------------------------------------------------------------------------

    def add_session(self, **columns: Any) -> MatchSession:
        session = MatchSession(**columns)
        self.session.add(session)
        self.session.flush()
        return session

    def get_session(self, session_id: str, role: str) -> MatchSession | None:
        return self.session.get(MatchSession, (session_id, role))

    def open_session_with(self, *, authority_id: str, peer_party: str, peer_authority: str) -> MatchSession | None:
        """The authority's newest unfinished session as initiator with this peer authority."""
        return self.session.scalars(
            select(MatchSession).where(MatchSession.role == "initiator", MatchSession.state == "open",
                                       MatchSession.authority_id == authority_id,
                                       MatchSession.peer_party == peer_party,
                                       MatchSession.peer_authority == peer_authority)
            .order_by(MatchSession.created_at.desc()).limit(1)).first()

    def responder_load(self, *, peer_party: str, since: dt.datetime) -> tuple[int, int]:
        """(sessions, items declared) that `peer_party` opened with this node since `since`."""
        count, items = self.session.execute(
            select(func.count(), func.coalesce(func.sum(MatchSession.peer_size), 0))
            .where(MatchSession.role == "responder", MatchSession.peer_party == peer_party,
                   MatchSession.created_at >= since)).one()
        return int(count), int(items)

    def list_sessions(self, *, authority_id: str, limit: int = 100) -> Sequence[MatchSession]:
        return self.session.scalars(select(MatchSession).where(MatchSession.authority_id == authority_id)
                                    .order_by(MatchSession.created_at.desc()).limit(limit)).all()

    # --- chunks -------------------------------------------------------------------------------

    def put_chunk(self, *, session_id: str, role: str, part: str, idx: int, data: bytes) -> None:
        self.session.execute(self._insert(MatchChunk, ["session_id", "role", "part", "idx"]),
                             [{"session_id": session_id, "role": role, "part": part, "idx": idx, "data": data}])

    def get_chunk(self, *, session_id: str, role: str, part: str, idx: int) -> bytes | None:
        row = self.session.get(MatchChunk, (session_id, role, part, idx))
        return bytes(row.data) if row else None

    def chunks(self, *, session_id: str, role: str, part: str) -> list[bytes]:
        return [bytes(d) for d in self.session.scalars(
            select(MatchChunk.data).where(MatchChunk.session_id == session_id, MatchChunk.role == role,
                                          MatchChunk.part == part).order_by(MatchChunk.idx))]

    def drop_chunks(self, *, session_id: str, role: str) -> None:
        self.session.execute(delete(MatchChunk).where(MatchChunk.session_id == session_id, MatchChunk.role == role))

    # --- results ------------------------------------------------------------------------------

    def add_results(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk.insert_new(self.session.connection(), MatchResult.__table__, rows,  # type: ignore[arg-type]
                        unique=["session_id", "authority_id", "case_ref", "key"])

    def list_results(self, *, authority_id: str, limit: int) -> Sequence[MatchResult]:
        return self.session.scalars(select(MatchResult).where(MatchResult.authority_id == authority_id)
                                    .order_by(MatchResult.found_at.desc(), MatchResult.case_ref, MatchResult.kind,
                                              MatchResult.value).limit(limit)).all()
