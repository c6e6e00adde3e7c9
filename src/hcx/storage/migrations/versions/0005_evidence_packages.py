"""Evidence packages: one row per package; the bytes are in the blob store.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_packages",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("request_id", sa.String(26), sa.ForeignKey("requests.id"), nullable=True),
        sa.Column("case_ref", sa.String(64), nullable=False),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False, unique=True),
        sa.Column("payload_bytes", sa.BigInteger, nullable=False),
        sa.Column("payload_files", sa.Integer, nullable=False),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
        sa.Column("recipients", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_index("ix_evidence_packages_request_id", "evidence_packages", ["request_id"])
    op.create_index("ix_evidence_packages_case_ref", "evidence_packages", ["case_ref"])


def downgrade() -> None:
    op.drop_table("evidence_packages")
