"""Tables of the local correlation index (migration 0004). On the shared `Base`, so Alembic and the
test fixtures see them once `hcx.storage.models` imports this module.

    indicator_index_keys  one row: the node's secret (32 random bytes, made on first use) from
                          which the index key and the card key are derived; never leaves the node
    indicator_postings    one row per (indicator, case, country, authority): the 16-byte keyed hash
                          of (kind, canonical value), the value itself for local analysts, the case,
                          its country (this node's party, or a counterpart's for postings learned
                          from a peer, whose authority is `origin`), when it was first seen and its
                          TLP / handling markings (migrations 0004, 0008)
    indicator_shared_keys one row per key found in 2 or more cases of an authority: how many cases and
                          whether they span more than one country; kept exact by every write of
                          postings in the same transaction (0013), so the cross-country report reads
                          these rows instead of scanning every posting
    indicator_alerts      one row per new link seen by one case of an authority: the shared value,
                          the other case, its country and authority; acknowledged or not (0008)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hcx.storage.models import Base, UTCDateTime


class IndicatorIndexKey(Base):
    __tablename__ = "indicator_index_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class IndicatorPosting(Base):
    __tablename__ = "indicator_postings"
    __table_args__ = (
        # the one index: (key, authority) lookups, re-import checks and the covering GROUP BY key; an
        # index rather than a constraint so that a bulk load can build it after the rows
        Index("uq_indicator_postings", "key", "authority_id", "country", "case_ref", unique=True),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(16))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    case_ref: Mapped[str] = mapped_column(String(64))
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    tlp: Mapped[str] = mapped_column(Text, default="")
    country: Mapped[str] = mapped_column(String(3), server_default="")
    origin: Mapped[str] = mapped_column(String(200), server_default="")  # a peer's authority; "" for ours


class IndicatorSharedKey(Base):
    """A key of the authority's postings held by two cases or more (a key in one case has no row).
    `cases` counts postings (one per case), `cross_border` is min(country) <> max(country)."""

    __tablename__ = "indicator_shared_keys"
    __table_args__ = (
        # the cross-country report: the authority's cross-border keys in key order, with their counts
        Index("ix_indicator_shared_keys_report", "authority_id", "cross_border", "key", "cases"),
        {"sqlite_with_rowid": False},
    )
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"), primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer)
    cross_border: Mapped[bool] = mapped_column(Boolean)


class IndicatorAlert(Base):
    __tablename__ = "indicator_alerts"
    __table_args__ = (
        UniqueConstraint("authority_id", "key", "case_ref", "other_country", "other_case_ref",
                         name="uq_indicator_alerts_link"),
        Index("ix_indicator_alerts_inbox", "authority_id", "acknowledged_at", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    key: Mapped[bytes] = mapped_column(LargeBinary(16))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    case_ref: Mapped[str] = mapped_column(String(64))
    other_case_ref: Mapped[str] = mapped_column(String(64))
    other_country: Mapped[str] = mapped_column(String(3))
    other_authority: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(26), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
