"""responder: AI reply jobs for incoming mail, and token budgets per tenant and provider

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carteiro.db.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "responder_budgets",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_responder_budgets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "provider", name=op.f("pk_responder_budgets")),
    )
    op.create_table(
        "responder_jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("rule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "thread_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_retry_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error_type", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("processing_time_ms", sa.Integer(), nullable=True),
        sa.Column("tokens_used", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("intent", sa.String(length=32), nullable=True),
        sa.Column("urgency", sa.String(length=8), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("draft", sa.Text(), nullable=True),
        sa.Column("email_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("started_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_responder_jobs_email_id_emails"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["inbox_messages.id"],
            name=op.f("fk_responder_jobs_message_id_inbox_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["inbox_rules.id"],
            name=op.f("fk_responder_jobs_rule_id_inbox_rules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_responder_jobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responder_jobs")),
        sa.UniqueConstraint("rule_id", "message_id", name="uq_responder_jobs_rule_message"),
    )
    op.create_index(
        "ix_responder_jobs_due", "responder_jobs", ["status", "next_retry_at"], unique=False
    )
    op.create_index(
        op.f("ix_responder_jobs_message_id"), "responder_jobs", ["message_id"], unique=False
    )
    op.create_index(
        "ix_responder_jobs_tenant_completed",
        "responder_jobs",
        ["tenant_id", "completed_at"],
        unique=False,
    )
    op.create_index(
        "ix_responder_jobs_tenant_status", "responder_jobs", ["tenant_id", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_responder_jobs_tenant_status", table_name="responder_jobs")
    op.drop_index("ix_responder_jobs_tenant_completed", table_name="responder_jobs")
    op.drop_index(op.f("ix_responder_jobs_message_id"), table_name="responder_jobs")
    op.drop_index("ix_responder_jobs_due", table_name="responder_jobs")
    op.drop_table("responder_jobs")
    op.drop_table("responder_budgets")
