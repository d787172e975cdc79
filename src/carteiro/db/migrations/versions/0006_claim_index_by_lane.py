"""claim index: lane first, as the claim orders (lane, priority, run_at, id)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    # Without lane in front, a deep queue was sorted in full on every claim.
    op.drop_index("ix_emails_claim", table_name="emails")
    op.create_index(
        "ix_emails_claim",
        "emails",
        ["lane", "priority", "run_at", "id"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_emails_claim", table_name="emails")
    op.create_index(
        "ix_emails_claim",
        "emails",
        ["priority", "run_at", "id"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
