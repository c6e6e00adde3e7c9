"""Matching between nodes: shareable marks, protocol sessions and their chunks, matches.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "match_shareable",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("case_ref", sa.String(64), nullable=False),
        sa.Column("key", sa.LargeBinary(16), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("authority_id", "key", "case_ref", name="uq_match_shareable"),
    )
    op.create_table(
        "match_sessions",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("role", sa.String(10), primary_key=True),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("peer_party", sa.String(3), nullable=False),
        sa.Column("peer_authority", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("scalar_sealed", sa.LargeBinary, nullable=False),
        sa.Column("set_digest", sa.String(64), nullable=False),
        sa.Column("own_size", sa.Integer, nullable=False),
        sa.Column("peer_size", sa.Integer, nullable=False),
        sa.Column("chunk_size", sa.Integer, nullable=False),
        sa.Column("x_chunks", sa.Integer, nullable=False),
        sa.Column("y_chunks", sa.Integer, nullable=False),
        sa.Column("matches", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
    )
    op.create_index("ix_match_sessions_peer", "match_sessions", ["role", "peer_party", "created_at"])
    op.create_table(
        "match_chunks",
        sa.Column("session_id", sa.String(26), primary_key=True),
        sa.Column("role", sa.String(10), primary_key=True),
        sa.Column("part", sa.String(8), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "match_results",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(26), nullable=False),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("case_ref", sa.String(64), nullable=False),
        sa.Column("key", sa.LargeBinary(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("peer_party", sa.String(3), nullable=False),
        sa.Column("peer_authority", sa.String(64), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("session_id", "authority_id", "case_ref", "key", name="uq_match_results"),
    )
    op.create_index("ix_match_results_scope", "match_results", ["authority_id", "found_at"])


def downgrade() -> None:
    op.drop_table("match_results")
    op.drop_table("match_chunks")
    op.drop_table("match_sessions")
    op.drop_table("match_shareable")
