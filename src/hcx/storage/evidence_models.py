"""The evidence packages table (migration 0005). On the shared `Base`, so Alembic and the test
fixtures see it once `hcx.storage.models` imports this module.

    evidence_packages   one row per package held by this node: its case and (optional) request,
                        the authority that holds it, the digest of its tag manifest (what custody
                        entries name), sizes, the age recipients its payload is encrypted to, state.
                        The bytes live in the blob store under packages/<id>/.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hcx.storage.models import Base, JsonDocument, UTCDateTime


class EvidencePackage(Base):
    __tablename__ = "evidence_packages"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    request_id: Mapped[str | None] = mapped_column(ForeignKey("requests.id"), nullable=True, index=True)
    case_ref: Mapped[str] = mapped_column(String(64), index=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    digest: Mapped[str] = mapped_column(String(80), unique=True)
    payload_bytes: Mapped[int] = mapped_column(BigInteger)
    payload_files: Mapped[int] = mapped_column(Integer)
    stored_bytes: Mapped[int] = mapped_column(BigInteger)
    recipients: Mapped[list[Any]] = mapped_column(JsonDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))
