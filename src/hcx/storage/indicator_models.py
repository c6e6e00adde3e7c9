"""Tables of the local correlation index (migration 0004). On the shared `Base`, so Alembic and the
test fixtures see them once `hcx.storage.models` imports this module.

    indicator_index_keys  one row: the node's secret (32 random bytes, made on first use) from
                          which the index key and the card key are derived; never leaves the node
    indicator_postings    one row per (indicator, case, authority): the 16-byte keyed hash of
                          (kind, canonical value), the value itself for local analysts, the case,
                          when it was first seen and its TLP / handling markings
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
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
        # its index, (key, case_ref, authority_id), is also the composite (key, case_ref) index of lookups
        UniqueConstraint("key", "case_ref", "authority_id", name="uq_indicator_postings"),
        Index("ix_indicator_postings_scope", "authority_id", "key"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(16))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    case_ref: Mapped[str] = mapped_column(String(64))
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    tlp: Mapped[str] = mapped_column(Text, default="")
