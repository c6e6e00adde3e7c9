"""Node core: node, authorities, users, API tokens, requests, their events, the audit trail.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "node",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("party", sa.String(3), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        when("created_at"),
    )
    op.create_table(
        "authorities",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("party", sa.String(3), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        when("created_at"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        when("created_at"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("user_id", sa.String(26), sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        when("created_at"),
        when("expires_at", nullable=True),
        when("revoked_at", nullable=True),
        when("last_used_at", nullable=True),
    )
    op.create_table(
        "reference_counters",
        sa.Column("party", sa.String(3), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("requesting_party", sa.String(3), nullable=False),
        sa.Column("requested_party", sa.String(3), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("counterpart", sa.String(200), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("created_by", sa.String(26), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("submitted_by", sa.String(26), sa.ForeignKey("users.id"), nullable=True),
        when("created_at"),
        when("updated_at"),
        when("due_at", nullable=True),
        sa.Column("preservation_expires_on", sa.Date, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_requests_scope", "requests", ["authority_id", "state", "updated_at"])
    op.create_table(
        "request_events",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("request_id", sa.String(26), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=False),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(26), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("recorded_for_counterpart", sa.Boolean, nullable=False),
        sa.Column("details", JSON, nullable=False),
        when("at"),
        sa.UniqueConstraint("request_id", "seq"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(26), primary_key=True),
        when("at"),
        sa.Column("actor_id", sa.String(26), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("details", JSON, nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])


def downgrade() -> None:
    for table in ("audit_events", "request_events", "requests", "reference_counters", "api_tokens",
                  "users", "authorities", "node"):
        op.drop_table(table)
