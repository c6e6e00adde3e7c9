"""Matching between nodes in SQL (SQLite and PostgreSQL), bound to one session.

The shareable set of an authority is its postings that carry a shareable mark and whose value TLP
lets go to the peer (services/matching.py decides, over every posting of the value), read by a
join with the correlation index (which this module only reads).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hcx.storage import bulk
from hcx.storage.indicator_models import IndicatorPosting
from hcx.storage.matching_models import MatchChunk, MatchResult, MatchSession, MatchShareable

_ROWS_PER_INSERT = 1000
_KEYS_PER_QUERY = 400
# The shareable set as a few packed columns, in ONE statement: one snapshot on PostgreSQL too (read
# committed gives each statement its own: a change committed between two reads would mix them).
#   'm' row: the keys (16 bytes each, concatenated) of the marks
#   'p' row: the postings of the authority (all, or those of marked keys): their count, keys,
#            elements (kind 0x00 value, UTF-8) and TLP texts, each joined by 0xFF (a byte UTF-8
#            never holds), and their case references when the authority names recipients
#   'r' rows: the recipients the authority named, per case and element
# A row per posting would cost a Python tuple and three objects each: a million, most of the time.
_SET_SQL = {
    "sqlite": """
SELECT 'm', count(*), CAST(group_concat(m."key", '') AS BLOB), NULL, NULL, NULL
FROM match_shareable m WHERE m.authority_id = ? {mark_has_posting}
UNION ALL
SELECT 'p', count(*), CAST(group_concat(p."key", '') AS BLOB),
  CAST(group_concat(CAST(p.kind || char(0) || p.value AS BLOB), X'FF') AS BLOB),
  CAST(group_concat(CAST(p.tlp AS BLOB), X'FF') AS BLOB),
  CAST(group_concat(CASE WHEN EXISTS (SELECT 1 FROM indicator_recipients WHERE authority_id = ?)
                         THEN CAST(p.case_ref AS BLOB) END, X'FF') AS BLOB)
FROM indicator_postings p WHERE p.authority_id = ? AND p.kind NOT IN ({kinds}) {of_marked}
UNION ALL
SELECT 'r', 0, CAST(case_ref AS BLOB), CAST(kind || char(0) || value AS BLOB), CAST(recipient AS BLOB), NULL
FROM indicator_recipients WHERE authority_id = ?""",
    "postgresql": """
SELECT 'm', count(*), string_agg(m."key", ''::bytea), NULL::bytea, NULL::bytea, NULL::bytea
FROM match_shareable m WHERE m.authority_id = ? {mark_has_posting}
UNION ALL
SELECT 'p', count(*), string_agg(p."key", ''::bytea),
  string_agg(convert_to(p.kind, 'UTF8') || '\\x00'::bytea || convert_to(p.value, 'UTF8'), '\\xff'::bytea),
  string_agg(convert_to(p.tlp, 'UTF8'), '\\xff'::bytea),
  string_agg(CASE WHEN EXISTS (SELECT 1 FROM indicator_recipients WHERE authority_id = ?)
                  THEN convert_to(p.case_ref, 'UTF8') END, '\\xff'::bytea)
FROM indicator_postings p WHERE p.authority_id = ? AND p.kind NOT IN ({kinds}) {of_marked}
UNION ALL
SELECT 'r', 0, convert_to(case_ref, 'UTF8'), convert_to(kind, 'UTF8') || '\\x00'::bytea || convert_to(value, 'UTF8'),
  convert_to(recipient, 'UTF8'), NULL::bytea
FROM indicator_recipients WHERE authority_id = ?""",
}
_OF_MARKED = 'AND p."key" IN (SELECT "key" FROM match_shareable WHERE authority_id = ?)'
# a mark counts only with its posting (the same case's): consent is given per posting, and a value
# must not go out on the strength of a mark whose posting is gone while another case holds it
_MARK_HAS_POSTING = ('AND EXISTS (SELECT 1 FROM indicator_postings mp WHERE mp.authority_id = m.authority_id '
                     'AND mp."key" = m."key" AND mp.case_ref = m.case_ref)')
# the marked cases of postings by key, from the two unique indexes alone (no table row: a lookup in
# the table reads it in random order), the keys in key order (neighbours share index pages)
_MARKED_CASES = ('SELECT p."key", p.case_ref FROM indicator_postings p '
                 'WHERE p."key" IN ({keys}) AND p.authority_id = ? AND EXISTS (SELECT 1 FROM match_shareable m '
                 'WHERE m.authority_id = p.authority_id AND m."key" = p."key" AND m.case_ref = p.case_ref)')


class SetColumns(NamedTuple):
    """The shareable set as read (`SqlMatchStore.shared_set_columns`)."""

    marked: bytes  # 16-byte keys of the postings marked shareable (a key once per marked case)
    size: int  # postings read
    keys: bytes  # their keys, 16 bytes each
    elements: bytes  # their elements, joined by 0xFF
    tlps: bytes  # their TLP texts (UTF-8), joined by 0xFF
    cases: bytes | None  # their case references joined by 0xFF, only when recipients are named
    recipients: list[tuple[bytes, bytes, bytes]]  # (case_ref, element, recipient), UTF-8


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

    def shared_set_columns(self, *, authority_id: str, never_kinds: Iterable[str], scan_fraction: int = 8
                           ) -> SetColumns:
        """What the shareable set of the authority is made of, in one statement (`_SET_SQL`): the
        marked keys, and every posting of a marked value (the TLP rule looks at all of them), in
        columns packed by the database. The postings are read in one pass over all of the
        authority's, or by key when the marks are fewer than 1/`scan_fraction` of them (a lookup
        per key reads the table in random order: in SQLite 1 M lookups took 3.7 s of CPU, one pass
        over 1 M postings 1.0 s). A mark counts only while its posting exists. Keys missing
        from `marked` (a mark of a card) and postings of unmarked keys are the caller's to leave out."""
        marks = self.session.scalar(select(func.count()).select_from(MatchShareable)
                                    .where(MatchShareable.authority_id == authority_id)) or 0
        if not marks:
            return SetColumns(b"", 0, b"", b"", b"", None, [])
        total = self.session.scalar(select(func.count()).select_from(IndicatorPosting)
                                    .where(IndicatorPosting.authority_id == authority_id)) or 0
        by_key = marks * scan_fraction < total
        kinds = sorted(never_kinds) or [""]
        connection = self.session.connection()
        sql = _SET_SQL[connection.dialect.name].format(kinds=", ".join("?" * len(kinds)),
                                                       of_marked=_OF_MARKED if by_key else "",
                                                       mark_has_posting=_MARK_HAS_POSTING)
        parameters = (authority_id, authority_id, authority_id, *kinds, *((authority_id,) if by_key else ()),
                      authority_id)
        marked, size_read, keys, elements, tlps, cases = b"", 0, b"", b"", b"", None
        recipients: list[tuple[bytes, bytes, bytes]] = []
        for part, size, first, second, third, fourth in bulk.driver_rows(connection, sql, parameters):
            if part == "m":
                marked = bytes(first or b"")
            elif part == "p":
                size_read, keys, elements, tlps = int(size), bytes(first or b""), bytes(second or b""), bytes(third or b"")
                cases = bytes(fourth) if fourth is not None else None
            else:
                recipients.append((bytes(first), bytes(second), bytes(third)))
        return SetColumns(marked, size_read, keys, elements, tlps, cases, recipients)

    def marked_cases(self, *, authority_id: str, keys: Iterable[bytes]) -> list[tuple[bytes, str]]:
        """(key, case_ref) of each posting under `keys` marked shareable now."""
        connection = self.session.connection()
        found: list[tuple[bytes, str]] = []
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            chunk = wanted[start:start + _KEYS_PER_QUERY]
            rows = bulk.driver_rows(connection, _MARKED_CASES.format(keys=", ".join("?" * len(chunk))),
                                    (*chunk, authority_id))
            found += [(bytes(key), case_ref) for key, case_ref in rows]
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
