"""Tables. Every schema change goes through an Alembic migration in migrations/versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class Node(Base):
    __tablename__ = "node"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    url: Mapped[str] = mapped_column(String(300), default="")
    descriptor_version: Mapped[int] = mapped_column(Integer, default=1)
    key_salt: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # stretches the key passphrase


class Key(Base):
    """A key pair of the node or of one of its authorities; the private half is encrypted."""

    __tablename__ = "keys"
    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(26), index=True)  # "node" or an authority id
    purpose: Mapped[str] = mapped_column(String(16))  # "sign" or "encrypt"
    public: Mapped[bytes] = mapped_column(LargeBinary)
    private_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Peer(Base):
    """Another State's node, pinned by the fingerprint of its node key."""

    __tablename__ = "peers"
    party: Mapped[str] = mapped_column(String(3), primary_key=True)
    url: Mapped[str] = mapped_column(String(300))
    node_key: Mapped[bytes] = mapped_column(LargeBinary)
    descriptor: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    descriptor_version: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    pinned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    peer_party: Mapped[str] = mapped_column(ForeignKey("peers.party"))
    request_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    type: Mapped[str] = mapped_column(String(64))
    wire: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, parked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)


class InboxMessage(Base):
    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_exchange", "exchange_id", "status"),)
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    peer_party: Mapped[str] = mapped_column(String(3))
    from_authority: Mapped[str] = mapped_column(String(64))
    to_authority: Mapped[str] = mapped_column(String(26))
    type: Mapped[str] = mapped_column(String(64))
    exchange_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    digest: Mapped[str] = mapped_column(String(80))
    envelope: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    receipt: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[str] = mapped_column(String(16))  # applied, waiting, rejected
    error: Mapped[str] = mapped_column(String(500), default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Authority(Base):
    __tablename__ = "authorities"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    party: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ReferenceCounter(Base):
    __tablename__ = "reference_counters"
    party: Mapped[str] = mapped_column(String(3), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Request(Base):
    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_scope", "authority_id", "state", "updated_at"),)
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    authority_id: Mapped[str] = mapped_column(ForeignKey("authorities.id"))
    direction: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(64))
    requesting_party: Mapped[str] = mapped_column(String(3))
    requested_party: Mapped[str] = mapped_column(String(3))
    language: Mapped[str] = mapped_column(String(8))
    counterpart: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32))
    document: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    preservation_expires_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    exchange_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    counterpart_authority: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_sent_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_applied_seq: Mapped[int] = mapped_column(Integer, default=0)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it once


class RequestEvent(Base):
    __tablename__ = "request_events"
    __table_args__ = (UniqueConstraint("request_id", "seq"),)
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    recorded_for_counterpart: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


# The other tables live in their own modules; importing them registers them on Base.
from hcx.storage import (  # noqa: E402, F401
    evidence_models,
    exchange_models,
    indicator_models,
    ledger_models,
    matching_models,
    taxii_models,
    transfer_models,
)
