"""Evidence exchange: packages arriving from a peer, and their download.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_incoming",
        sa.Column("package_id", sa.String(26), sa.ForeignKey("evidence_packages.id"), primary_key=True),
        sa.Column("message_id", sa.String(26), nullable=False),
        sa.Column("peer_party", sa.String(3), nullable=False),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_evidence_incoming_status", "evidence_incoming", ["status"])


def downgrade() -> None:
    op.drop_index("ix_evidence_incoming_status", table_name="evidence_incoming")
    op.drop_table("evidence_incoming")
