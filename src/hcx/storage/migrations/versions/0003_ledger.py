"""Custody log: Merkle tree (head, perfect subtrees, salted entries), checkpoints, cosignatures,
peers' checkpoints and fork alarms.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ledger_entries",
        sa.Column("idx", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
        sa.Column("salt", sa.LargeBinary, nullable=True),
        sa.Column("entry", sa.LargeBinary, nullable=True),
        sa.Column("ref", sa.String(128), nullable=True),
        when("recorded_at"),
        when("erased_at", nullable=True),
    )
    op.create_index("ix_ledger_entries_ref", "ledger_entries", ["ref"])
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        when("signed_at"),
    )
    op.create_table(
        "ledger_cosignatures",
        sa.Column("size", sa.BigInteger, sa.ForeignKey("ledger_checkpoints.size"), primary_key=True,
                  autoincrement=False),
        sa.Column("party", sa.String(3), primary_key=True),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        when("received_at"),
    )
    op.create_table(
        "ledger_peer_checkpoints",
        sa.Column("party", sa.String(3), primary_key=True),
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        when("seen_at"),
    )
    op.create_table(
        "ledger_alarms",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("party", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("previous_note", sa.Text, nullable=False),
        sa.Column("offered_note", sa.Text, nullable=False),
        when("raised_at"),
    )
    op.create_index("ix_ledger_alarms_raised_at", "ledger_alarms", ["raised_at"])


def downgrade() -> None:
    for table in ("ledger_alarms", "ledger_peer_checkpoints", "ledger_cosignatures", "ledger_checkpoints",
                  "ledger_entries", "ledger_nodes", "ledger_head"):
        op.drop_table(table)
