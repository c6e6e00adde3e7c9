"""Tables of matching between nodes (migration 0007, docs/matching.md). On the shared `Base`, so
Alembic and the test fixtures see them once `hcx.storage.models` imports this module.

    match_shareable   which postings their owner marked shareable: (authority, case, posting key)
    match_sessions    one row per protocol session and role (initiator or responder): its peer,
                      its secret exponent (sealed by the node vault), sizes, progress, state;
                      the responder's rows are also what its rate limits count
    match_chunks      the initiator's chunks (X blinded by both, Y blinded by both) and the
                      responder's digests of the chunks it answered: resumption from the last one
    match_results     the indicators found in common: own case ↔ peer party and authority
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hcx.storage.models import Base, UTCDateTime


class MatchShareable(Base):
    __tablename__ = "match_shareable"
    __table_args__ = (UniqueConstraint("authority_id", "key", "case_ref", name="uq_match_shareable"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    case_ref: Mapped[str] = mapped_column(String(64))
    key: Mapped[bytes] = mapped_column(LargeBinary(16))
    marked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class MatchSession(Base):
    __tablename__ = "match_sessions"
    __table_args__ = (Index("ix_match_sessions_peer", "role", "peer_party", "created_at"),)
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), primary_key=True)  # initiator | responder
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    peer_party: Mapped[str] = mapped_column(String(3))
    peer_authority: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))  # open | done | failed
    scalar_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    set_digest: Mapped[str] = mapped_column(String(64))
    own_size: Mapped[int] = mapped_column(Integer)
    peer_size: Mapped[int] = mapped_column(Integer)
    chunk_size: Mapped[int] = mapped_column(Integer)
    x_chunks: Mapped[int] = mapped_column(Integer, default=0)
    y_chunks: Mapped[int] = mapped_column(Integer, default=0)
    matches: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    error: Mapped[str] = mapped_column(Text, default="")


class MatchChunk(Base):
    __tablename__ = "match_chunks"
    session_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), primary_key=True)
    part: Mapped[str] = mapped_column(String(8), primary_key=True)  # xab | yba (initiator), x (responder)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class MatchResult(Base):
    __tablename__ = "match_results"
    __table_args__ = (UniqueConstraint("session_id", "authority_id", "case_ref", "key", name="uq_match_results"),
                      Index("ix_match_results_scope", "authority_id", "found_at"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(26))
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    case_ref: Mapped[str] = mapped_column(String(64))
    key: Mapped[bytes] = mapped_column(LargeBinary(16))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    peer_party: Mapped[str] = mapped_column(String(3))
    peer_authority: Mapped[str] = mapped_column(String(64))
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
