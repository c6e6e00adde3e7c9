"""Tables of the TAXII 2.1 interface and of TLP recipients (migration 0011). On the shared `Base`,
registered when `hcx.storage.models` imports this module.

    indicator_recipients  the recipients an authority named for an indicator of a case (TLP:AMBER
                          goes only to them): (authority, case, kind, canonical value, recipient)
    taxii_status          one row per TAXII "add objects" request: its counts and per-object
                          outcomes, read back by GET status/{id}

Migration 0011 also adds `ix_indicator_postings_feed` on `indicator_postings` (authority_id,
first_seen, id): the order TAXII pages in (a page is then an index range read, ~2 ms at a million
postings instead of a ~1.6 s sort). It is not declared on the model: that table belongs to
indicator_models.py, which imports this module's `Base` first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hcx.storage.models import Base, JsonDocument, UTCDateTime


class IndicatorRecipient(Base):
    __tablename__ = "indicator_recipients"
    __table_args__ = (
        UniqueConstraint("authority_id", "case_ref", "kind", "value", "recipient", name="uq_indicator_recipients"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    case_ref: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(String(100))


class TaxiiStatus(Base):
    __tablename__ = "taxii_status"
    __table_args__ = (Index("ix_taxii_status_authority", "authority_id", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    user_id: Mapped[str] = mapped_column(String(26))
    collection_id: Mapped[str] = mapped_column(String(36))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    total_count: Mapped[int] = mapped_column(Integer)
    success_count: Mapped[int] = mapped_column(Integer)
    failure_count: Mapped[int] = mapped_column(Integer)
    pending_count: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # {"successes": [...], "failures": [...]}
