"""tracking: tracked messages with their links, raw hits and their classes, tenant choices

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import carteiro.db.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_tenants",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tracking_tenants_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tracking_tenants")),
    )
    op.create_table(
        "tracked_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("email_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column(
            "urls",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("trap", sa.Integer(), nullable=False),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_tracked_messages_email_id_emails"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tracked_messages_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_messages")),
        sa.UniqueConstraint("token", name=op.f("uq_tracked_messages_token")),
    )
    with op.batch_alter_table("tracked_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracked_messages_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tracked_messages_email_id"), ["email_id"], unique=False
        )

    op.create_table(
        "tracking_hits",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "tracked_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("link", sa.Integer(), nullable=True),
        sa.Column("at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("network", sa.String(length=16), nullable=True),
        sa.Column("hit_class", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tracking_hits_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tracked_id"],
            ["tracked_messages.id"],
            name=op.f("fk_tracking_hits_tracked_id_tracked_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_hits")),
    )
    with op.batch_alter_table("tracking_hits", schema=None) as batch_op:
        batch_op.create_index("ix_tracking_hits_message_at", ["tracked_id", "at"], unique=False)
        batch_op.create_index("ix_tracking_hits_unclassified", ["hit_class", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tracking_hits", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_hits_unclassified")
        batch_op.drop_index("ix_tracking_hits_message_at")

    op.drop_table("tracking_hits")
    with op.batch_alter_table("tracked_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracked_messages_email_id"))
        batch_op.drop_index(batch_op.f("ix_tracked_messages_campaign_id"))

    op.drop_table("tracked_messages")
    op.drop_table("tracking_tenants")
