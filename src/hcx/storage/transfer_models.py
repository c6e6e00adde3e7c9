"""Tables of evidence transfers (migration 0006). On the shared `Base`, so Alembic and the test
fixtures see them once `hcx.storage.models` imports this module.

    uploads             resumable uploads from an officer's machine: declared size and SHA-256,
                        bytes received so far, status (open, complete, failed, cancelled)
    blob_capabilities   grants to one pinned peer to fetch one blob: the token's SHA-256 only,
                        with the blob's digest and size, and an expiry
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hcx.storage.models import Base, UTCDateTime


class Upload(Base):
    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    file_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    received: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    blob_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class BlobCapability(Base):
    __tablename__ = "blob_capabilities"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    blob_key: Mapped[str] = mapped_column(String(300))
    peer_party: Mapped[str] = mapped_column(String(3))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
