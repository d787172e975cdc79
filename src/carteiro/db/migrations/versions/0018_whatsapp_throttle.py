"""whatsapp numbers: an adaptive rate cut by Meta's 130429 (throttled), recovering over time

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carteiro.db.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_numbers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("throttle_factor", sa.Float(), nullable=False, server_default=sa.text("1"))
        )
        batch_op.add_column(
            sa.Column("throttled_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_numbers", schema=None) as batch_op:
        batch_op.drop_column("throttled_at")
        batch_op.drop_column("throttle_factor")
