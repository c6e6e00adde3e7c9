"""Tables of the custody log (migration 0003). On the shared `Base`, so Alembic and the test
fixtures see them once `hcx.storage.models` imports this module.

    ledger_head             one row: tree size + frontier (the rightmost perfect subtrees); the
                            row appenders lock, so concurrent writers serialise on every backend
    ledger_nodes            every perfect subtree hash, keyed (level, index); level 0 = leaf hashes
    ledger_entries          per leaf: salt and canonical custody entry (NULL once erased), its ref
    ledger_checkpoints      checkpoints this node signed, as signed-note text
    ledger_cosignatures     peers' cosignatures of those checkpoints
    ledger_peer_checkpoints checkpoints peers showed us (and we cosigned), for fork detection
    ledger_alarms           forks and rollbacks seen in a peer's log, for admins
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hcx.storage.models import Base, UTCDateTime


class LedgerHead(Base):
    __tablename__ = "ledger_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerNode(Base):
    __tablename__ = "ledger_nodes"
    __table_args__ = ({"sqlite_with_rowid": False},)  # the (level, idx) key is the row itself
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column("idx", BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    # INTEGER on SQLite: the rowid itself, so an entry is one B-tree row
    index: Mapped[int] = mapped_column("idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                       autoincrement=False)
    salt: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    entry: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    ref: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LedgerCheckpoint(Base):
    __tablename__ = "ledger_checkpoints"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LedgerCosignature(Base):
    __tablename__ = "ledger_cosignatures"
    size: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_checkpoints.size"), primary_key=True,
                                      autoincrement=False)
    party: Mapped[str] = mapped_column(String(3), primary_key=True)
    line: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PeerCheckpoint(Base):
    __tablename__ = "ledger_peer_checkpoints"
    party: Mapped[str] = mapped_column(String(3), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LedgerAlarm(Base):
    __tablename__ = "ledger_alarms"
    __table_args__ = (Index("ix_ledger_alarms_raised_at", "raised_at"),)
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    party: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    previous_note: Mapped[str] = mapped_column(Text)
    offered_note: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
