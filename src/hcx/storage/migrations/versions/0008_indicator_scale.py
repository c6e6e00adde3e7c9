"""Correlation at scale: each posting names its country (ISO 3166-1 alpha-3) and, for postings learned
from a peer, the counterpart authority; one index serves lookups, scope and the cross-country report;
alerts for new links between cases.

Existing postings are this node's own: they take the node's party.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("indicator_postings", recreate="auto") as batch:
        batch.add_column(sa.Column("country", sa.String(3), nullable=False, server_default=""))
        batch.add_column(sa.Column("origin", sa.String(200), nullable=False, server_default=""))
        batch.drop_constraint("uq_indicator_postings", type_="unique")
        batch.drop_index("ix_indicator_postings_scope")
        # one index for everything: (key, authority) lookups and re-import checks, and the authority's
        # GROUP BY key … HAVING min(country) <> max(country) (covering); no second copy of the keys
        # a unique index, not a constraint: a bulk load may drop it and build it after (faster)
        batch.create_index("uq_indicator_postings", ["key", "authority_id", "country", "case_ref"], unique=True)
    op.execute("UPDATE indicator_postings SET country = (SELECT party FROM node ORDER BY id LIMIT 1) "
               "WHERE country = '' AND EXISTS (SELECT 1 FROM node)")
    op.create_table(
        "indicator_alerts",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("authority_id", sa.String(26), sa.ForeignKey("authorities.id"), nullable=False),
        sa.Column("key", sa.LargeBinary(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("case_ref", sa.String(64), nullable=False),
        sa.Column("other_case_ref", sa.String(64), nullable=False),
        sa.Column("other_country", sa.String(3), nullable=False),
        sa.Column("other_authority", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(26), nullable=True),
        sa.Column("request_id", sa.String(26), nullable=True),
        sa.UniqueConstraint("authority_id", "key", "case_ref", "other_country", "other_case_ref",
                            name="uq_indicator_alerts_link"),
    )
    op.create_index("ix_indicator_alerts_inbox", "indicator_alerts", ["authority_id", "acknowledged_at", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_indicator_alerts_inbox", table_name="indicator_alerts")
    op.drop_table("indicator_alerts")
    op.execute("DELETE FROM indicator_postings WHERE country <> '' AND country <> "
               "coalesce((SELECT party FROM node ORDER BY id LIMIT 1), country)")  # a peer's postings go
    with op.batch_alter_table("indicator_postings", recreate="auto") as batch:
        batch.drop_index("uq_indicator_postings")
        batch.drop_column("origin")
        batch.drop_column("country")
        batch.create_unique_constraint("uq_indicator_postings", ["key", "case_ref", "authority_id"])
        batch.create_index("ix_indicator_postings_scope", ["authority_id", "key"])
