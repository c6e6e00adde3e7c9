"""TAXII 2.1 status resources, TLP recipients, and the TAXII paging index on the postings.

Revision ID: 0011
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indicator_recipients",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("case_ref", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.UniqueConstraint("authority_id", "case_ref", "kind", "value", "recipient", name="uq_indicator_recipients"),
    )
    op.create_table(
        "taxii_status",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("user_id", sa.String(26), nullable=False),
        sa.Column("collection_id", sa.String(36), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total_count", sa.Integer, nullable=False),
        sa.Column("success_count", sa.Integer, nullable=False),
        sa.Column("failure_count", sa.Integer, nullable=False),
        sa.Column("pending_count", sa.Integer, nullable=False),
        sa.Column("details", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )
    op.create_index("ix_taxii_status_authority", "taxii_status", ["authority_id", "id"])
    # the order TAXII pages the correlation index in
    op.create_index("ix_indicator_postings_feed", "indicator_postings", ["authority_id", "first_seen", "id"])


def downgrade() -> None:
    op.drop_index("ix_indicator_postings_feed", table_name="indicator_postings")
    op.drop_table("taxii_status")
    op.drop_table("indicator_recipients")
