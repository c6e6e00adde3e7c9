"""Local correlation index: the node's index secret and the indicator postings.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indicator_index_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "indicator_postings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("key", sa.LargeBinary(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("case_ref", sa.String(64), nullable=False),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tlp", sa.Text, nullable=False),
        # its index is also the composite (key, case_ref) index of lookups
        sa.UniqueConstraint("key", "case_ref", "authority_id", name="uq_indicator_postings"),
    )
    op.create_index("ix_indicator_postings_scope", "indicator_postings", ["authority_id", "key"])


def downgrade() -> None:
    op.drop_table("indicator_postings")
    op.drop_table("indicator_index_keys")
