"""campaigns: segments, layouts, campaigns, variants, the recipients ledger, A/B decisions,
hourly stats

Revision ID: 0011
Revises: 0010, 0002, 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import carteiro.db.types

revision: str = "0011"
down_revision: tuple[str, ...] = ("0010", "0002", "0003")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_templates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_campaign_templates_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_templates")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_campaign_templates_tenant_name"),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_segments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_segments_tenant_name"),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column(
            "status_changed_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("paused_from", sa.String(length=24), nullable=True),
        sa.Column(
            "created_by_key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column(
            "segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "audience",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("from_route", sa.String(length=320), nullable=True),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("track", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "template_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("send_mode", sa.String(length=16), nullable=False),
        sa.Column("send_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_start", sa.String(length=5), nullable=True),
        sa.Column("window_end", sa.String(length=5), nullable=True),
        sa.Column(
            "weekdays",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("default_tz", sa.String(length=64), nullable=False),
        sa.Column("pool_share", sa.Float(), nullable=False),
        sa.Column("horizon_seconds", sa.Integer(), nullable=False),
        sa.Column("max_hard_bounce_rate", sa.Float(), nullable=False),
        sa.Column("max_complaint_rate", sa.Float(), nullable=False),
        sa.Column("max_failure_rate", sa.Float(), nullable=False),
        sa.Column(
            "warnings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("ab_enabled", sa.Boolean(), nullable=False),
        sa.Column("ab_test_fraction", sa.Float(), nullable=False),
        sa.Column("ab_metric", sa.String(length=16), nullable=False),
        sa.Column("ab_wait_seconds", sa.Integer(), nullable=False),
        sa.Column("ab_min_per_variant", sa.Integer(), nullable=False),
        sa.Column("ab_confidence", sa.Float(), nullable=False),
        sa.Column("ab_fallback", sa.String(length=16), nullable=False),
        sa.Column("ab_seed", sa.String(length=64), nullable=False),
        sa.Column(
            "ab_last_test_send_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "winner_variant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "cursor_lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("prepared_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "lint",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("audience_total", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("bounced_hard", sa.Integer(), nullable=False),
        sa.Column("bounced_soft", sa.Integer(), nullable=False),
        sa.Column("complained", sa.Integer(), nullable=False),
        sa.Column("unsubscribed", sa.Integer(), nullable=False),
        sa.Column("opened_unique", sa.Integer(), nullable=False),
        sa.Column("opened_human_unique", sa.Integer(), nullable=False),
        sa.Column("clicked_unique", sa.Integer(), nullable=False),
        sa.Column("replied", sa.Integer(), nullable=False),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_campaigns_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_key_id"],
            ["api_keys.id"],
            name=op.f("fk_campaigns_created_by_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_campaigns_segment_id_segments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["campaign_templates.id"],
            name=op.f("fk_campaigns_template_id_campaign_templates"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_campaigns_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_tenant_status", ["tenant_id", "status"], unique=False)

    op.create_table(
        "campaign_ab_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "variant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column(
            "per_variant",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_ab_decisions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_ab_decisions")),
        sa.UniqueConstraint("campaign_id", name="uq_campaign_ab_decisions_campaign_id"),
    )
    op.create_table(
        "campaign_recipients",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("skip_reason", sa.String(length=32), nullable=True),
        sa.Column(
            "variant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=True),
        sa.Column("tz_source", sa.String(length=16), nullable=True),
        sa.Column("due_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("email_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("queued_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("first_open_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "first_human_open_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("machine_opens", sa.Integer(), nullable=False),
        sa.Column("first_click_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("replied_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("bounced_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("complained_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_recipients_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_campaign_recipients_email_id_emails"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_campaign_recipients_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_recipients")),
        sa.UniqueConstraint(
            "campaign_id", "address", name="uq_campaign_recipients_campaign_address"
        ),
        sa.UniqueConstraint("email_id", name="uq_campaign_recipients_email_id"),
    )
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_recipients_lead", ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_campaign_recipients_plan", ["campaign_id", "status", "due_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_campaign_recipients_tenant_address", ["tenant_id", "address"], unique=False
        )

    op.create_table(
        "campaign_stats_hourly",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "variant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("bucket", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("clicked", sa.Integer(), nullable=False),
        sa.Column("bounced", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_stats_hourly_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_stats_hourly")),
        sa.UniqueConstraint(
            "campaign_id", "variant_id", "bucket", name="uq_campaign_stats_hourly_bucket"
        ),
    )
    op.create_table(
        "campaign_variants",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("preheader", sa.String(length=500), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("from_name", sa.String(length=200), nullable=True),
        sa.Column("compiled_html", sa.Text(), nullable=True),
        sa.Column("compiled_text", sa.Text(), nullable=True),
        sa.Column("compiled_hash", sa.String(length=64), nullable=True),
        sa.Column("audience_total", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("bounced_hard", sa.Integer(), nullable=False),
        sa.Column("bounced_soft", sa.Integer(), nullable=False),
        sa.Column("complained", sa.Integer(), nullable=False),
        sa.Column("unsubscribed", sa.Integer(), nullable=False),
        sa.Column("opened_unique", sa.Integer(), nullable=False),
        sa.Column("opened_human_unique", sa.Integer(), nullable=False),
        sa.Column("clicked_unique", sa.Integer(), nullable=False),
        sa.Column("replied", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_variants_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_variants")),
        sa.UniqueConstraint("campaign_id", "label", name="uq_campaign_variants_campaign_label"),
    )


def downgrade() -> None:
    op.drop_table("campaign_variants")
    op.drop_table("campaign_stats_hourly")
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_recipients_tenant_address")
        batch_op.drop_index("ix_campaign_recipients_plan")
        batch_op.drop_index("ix_campaign_recipients_lead")

    op.drop_table("campaign_recipients")
    op.drop_table("campaign_ab_decisions")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_tenant_status")

    op.drop_table("campaigns")
    op.drop_table("segments")
    op.drop_table("campaign_templates")
