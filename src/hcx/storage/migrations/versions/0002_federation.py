"""Federation: keys, peers, outbox, inbox; requests learn their exchange with a peer.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("node") as batch:
        batch.add_column(sa.Column("url", sa.String(300), nullable=False, server_default=""))
        batch.add_column(sa.Column("descriptor_version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("key_salt", sa.LargeBinary, nullable=False, server_default=sa.text("''")))
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("exchange_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("counterpart_authority", sa.String(64), nullable=True))
        batch.add_column(sa.Column("last_sent_seq", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_applied_seq", sa.Integer, nullable=False, server_default="0"))
        batch.alter_column("created_by", existing_type=sa.String(26), nullable=True)
        batch.create_index("ix_requests_exchange_id", ["exchange_id"])
    with op.batch_alter_table("request_events") as batch:
        batch.alter_column("actor_id", existing_type=sa.String(26), nullable=True)
    op.create_table(
        "keys",
        sa.Column("kid", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(26), nullable=False, index=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("public", sa.LargeBinary, nullable=False),
        sa.Column("private_encrypted", sa.LargeBinary, nullable=False),
        when("created_at"),
        when("revoked_at", nullable=True),
    )
    op.create_table(
        "peers",
        sa.Column("party", sa.String(3), primary_key=True),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("node_key", sa.LargeBinary, nullable=False),
        sa.Column("descriptor", JSON, nullable=False),
        sa.Column("descriptor_version", sa.Integer, nullable=False),
        when("expires_at"),
        when("pinned_at"),
        when("refreshed_at"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("peer_party", sa.String(3), sa.ForeignKey("peers.party"), nullable=False),
        sa.Column("request_id", sa.String(26), nullable=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("wire", sa.LargeBinary, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        when("next_attempt_at"),
        when("lease_until", nullable=True),
        when("created_at"),
        when("delivered_at", nullable=True),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("receipt", JSON, nullable=True),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "inbox",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("peer_party", sa.String(3), nullable=False),
        sa.Column("from_authority", sa.String(64), nullable=False),
        sa.Column("to_authority", sa.String(26), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("exchange_id", sa.String(64), nullable=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("envelope", JSON, nullable=False),
        sa.Column("receipt", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.String(500), nullable=False),
        when("received_at"),
    )
    op.create_index("ix_inbox_exchange", "inbox", ["exchange_id", "status"])


def downgrade() -> None:
    for table in ("inbox", "outbox", "peers", "keys"):
        op.drop_table(table)
    with op.batch_alter_table("request_events") as batch:
        batch.alter_column("actor_id", existing_type=sa.String(26), nullable=False)
    with op.batch_alter_table("requests") as batch:
        batch.drop_index("ix_requests_exchange_id")
        batch.alter_column("created_by", existing_type=sa.String(26), nullable=False)
        for column in ("last_applied_seq", "last_sent_seq", "counterpart_authority", "exchange_id"):
            batch.drop_column(column)
    with op.batch_alter_table("node") as batch:
        batch.drop_column("key_salt")
        batch.drop_column("descriptor_version")
        batch.drop_column("url")
