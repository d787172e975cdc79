"""connection leases: per-account SMTP connection slots shared by every worker

Revision ID: 0005
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carteiro.db.types

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connection_leases",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("lease_until", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_connection_leases_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "slot", name=op.f("pk_connection_leases")),
    )
    op.create_index(
        op.f("ix_connection_leases_worker"), "connection_leases", ["worker"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_connection_leases_worker"), table_name="connection_leases")
    op.drop_table("connection_leases")
