"""Evidence packages arriving from a peer (migration 0012). On the shared `Base`, so Alembic and the
test fixtures see it once `hcx.storage.models` imports this module.

    evidence_incoming   one row per package a peer sent: the checked message body (tag files,
                        capabilities, the sender's custody proofs and signed descriptor), the
                        download's status, attempts and last error. Its package row (state
                        "incoming", then "received" or "failed") is in evidence_packages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hcx.storage.models import Base, JsonDocument, UTCDateTime


class EvidenceIncoming(Base):
    __tablename__ = "evidence_incoming"
    package_id: Mapped[str] = mapped_column(ForeignKey("evidence_packages.id"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(26))
    peer_party: Mapped[str] = mapped_column(String(3))
    body: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    error: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
