"""The per-key summary of the correlation index: keys held by two cases or more, with their number of
cases and whether they cross a border, filled from the postings already stored.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indicator_shared_keys",
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), primary_key=True),
        sa.Column("key", sa.LargeBinary(16), primary_key=True),
        sa.Column("cases", sa.Integer, nullable=False),
        sa.Column("cross_border", sa.Boolean, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_indicator_shared_keys_report", "indicator_shared_keys",
                    ["authority_id", "cross_border", "key", "cases"])
    op.execute("INSERT INTO indicator_shared_keys (authority_id, key, cases, cross_border) "
               "SELECT authority_id, key, count(*), min(country) <> max(country) FROM indicator_postings "
               "GROUP BY authority_id, key HAVING count(*) >= 2")


def downgrade() -> None:
    op.drop_index("ix_indicator_shared_keys_report", table_name="indicator_shared_keys")
    op.drop_table("indicator_shared_keys")
