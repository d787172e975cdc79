"""claim indexes per route (pinned mail by account, pool mail by tenant) that no other index
can stand in for, and autovacuum settings for the queue table

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER = ["lane", "priority", "run_at", "id"]
PENDING = sa.text("status = 'pending'")
# Spelled as the claim spells them (outbound.claim): a partial index is used only when the
# query's terms match its predicate's. `coalesce(status, '')`, not `status`: no other index
# can serve that term, and its estimate does not come from the column's statistics.
PINNED_PG = sa.text("coalesce(status, '') = 'pending' AND account_pinned")
PINNED_SQLITE = sa.text("coalesce(status, '') = 'pending' AND account_pinned = 1")
POOL_PG = sa.text("coalesce(status, '') = 'pending' AND NOT account_pinned")
POOL_SQLITE = sa.text("coalesce(status, '') = 'pending' AND account_pinned = 0")
# The queue table changes by a large share between autovacuum's default thresholds (10% of
# the table for ANALYZE, 20% for VACUUM): analyze and vacuum it after a number of rows.
QUEUE_STORAGE = {
    "autovacuum_analyze_scale_factor": "0.0",
    "autovacuum_analyze_threshold": "5000",
    "autovacuum_vacuum_scale_factor": "0.0",
    "autovacuum_vacuum_threshold": "20000",
}


def upgrade() -> None:
    # Each claim reads one exact range per route, already in claim order. Every term of the
    # claim is an expression only these indexes have, so no plan can read another index
    # and sort what it found, whatever the statistics say.
    op.create_index(
        "ix_emails_claim_pinned",
        "emails",
        [sa.text("coalesce(account_id, 0)"), *ORDER],
        unique=False,
        postgresql_where=PINNED_PG,
        sqlite_where=PINNED_SQLITE,
    )
    op.create_index(
        "ix_emails_claim_pool",
        "emails",
        [sa.text("coalesce(tenant_id, 0)"), *ORDER],
        unique=False,
        postgresql_where=POOL_PG,
        sqlite_where=POOL_SQLITE,
    )
    op.drop_index("ix_emails_claim", table_name="emails")
    if op.get_bind().dialect.name == "postgresql":
        settings = ", ".join(f"{k} = {v}" for k, v in QUEUE_STORAGE.items())
        op.execute(f"ALTER TABLE emails SET ({settings})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE emails RESET ({', '.join(QUEUE_STORAGE)})")
    op.create_index(
        "ix_emails_claim",
        "emails",
        ORDER,
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.drop_index("ix_emails_claim_pool", table_name="emails")
    op.drop_index("ix_emails_claim_pinned", table_name="emails")
