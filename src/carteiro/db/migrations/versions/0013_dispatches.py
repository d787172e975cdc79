"""dispatches (disparos) with their events, dead letters, consent and do-not-contact list;
WhatsApp numbers, templates, service windows, received webhooks and inbound messages

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import carteiro.db.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "do_not_contact",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_do_not_contact_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_do_not_contact")),
        sa.UniqueConstraint("tenant_id", "value", name="uq_do_not_contact_value"),
    )
    op.create_table(
        "whatsapp_numbers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("phone_number_id", sa.String(length=128), nullable=False),
        sa.Column("display_phone", sa.String(length=32), nullable=True),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("token_enc", sa.Text(), nullable=False),
        sa.Column("app_secret_enc", sa.Text(), nullable=True),
        sa.Column("verify_token_enc", sa.Text(), nullable=True),
        sa.Column("rate_per_second", sa.Float(), nullable=False),
        sa.Column("pair_interval_seconds", sa.Float(), nullable=False),
        sa.Column("next_slot_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("paused_until", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fallback_template", sa.String(length=128), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_whatsapp_numbers_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_numbers")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_whatsapp_numbers_tenant_name"),
    )
    op.create_table(
        "whatsapp_templates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("param_format", sa.String(length=16), nullable=False),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_whatsapp_templates_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_templates")),
        sa.UniqueConstraint(
            "tenant_id", "name", "language", name="uq_whatsapp_templates_tenant_name_lang"
        ),
    )
    op.create_table(
        "contact_consents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("canal", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("recorded_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.lead_id"],
            name=op.f("fk_contact_consents_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_consents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_consents")),
        sa.UniqueConstraint(
            "tenant_id", "lead_id", "canal", "purpose", name="uq_contact_consents_scope"
        ),
    )
    op.create_table(
        "whatsapp_inbound",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "number_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("wa_id", sa.String(length=32), nullable=False),
        sa.Column("wamid", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("sent_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.lead_id"],
            name=op.f("fk_whatsapp_inbound_lead_id_leads"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["whatsapp_numbers.id"],
            name=op.f("fk_whatsapp_inbound_number_id_whatsapp_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_whatsapp_inbound_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_inbound")),
        sa.UniqueConstraint("number_id", "wamid", name="uq_whatsapp_inbound_number_wamid"),
    )
    with op.batch_alter_table("whatsapp_inbound", schema=None) as batch_op:
        batch_op.create_index(
            "ix_whatsapp_inbound_tenant_lead", ["tenant_id", "lead_id"], unique=False
        )

    op.create_table(
        "whatsapp_webhooks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "number_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["whatsapp_numbers.id"],
            name=op.f("fk_whatsapp_webhooks_number_id_whatsapp_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_whatsapp_webhooks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_webhooks")),
    )
    with op.batch_alter_table("whatsapp_webhooks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_whatsapp_webhooks_pending", ["processed_at", "lease_until"], unique=False
        )

    op.create_table(
        "whatsapp_windows",
        sa.Column(
            "number_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("wa_id", sa.String(length=32), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("last_inbound_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["whatsapp_numbers.id"],
            name=op.f("fk_whatsapp_windows_number_id_whatsapp_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_whatsapp_windows_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number_id", "wa_id", name=op.f("pk_whatsapp_windows")),
    )
    op.create_table(
        "disparos",
        sa.Column(
            "disparo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("canal", sa.String(length=16), nullable=False),
        sa.Column("email_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "telefone_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("destino", sa.String(length=320), nullable=False),
        sa.Column("template", sa.String(length=128), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mensagem_erro", sa.Text(), nullable=True),
        sa.Column("error_class", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("data_agendado", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("not_after", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("data_envio", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("data_retorno", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tentativas", sa.Integer(), nullable=False),
        sa.Column("max_tentativas", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("inflight_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("awaiting_until", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("correlation", sa.String(length=64), nullable=False),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("recipient_id", sa.String(length=64), nullable=True),
        sa.Column(
            "whatsapp_number_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "email_message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("sent_as", sa.String(length=16), nullable=True),
        sa.Column(
            "requeued_from_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("quiet_policy", sa.String(length=32), nullable=True),
        sa.Column("on_quiet", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("deferred_from", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["lead_emails.email_id"],
            name=op.f("fk_disparos_email_id_lead_emails"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["email_message_id"],
            ["emails.id"],
            name=op.f("fk_disparos_email_message_id_emails"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.lead_id"],
            name=op.f("fk_disparos_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requeued_from_id"],
            ["disparos.disparo_id"],
            name=op.f("fk_disparos_requeued_from_id_disparos"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["telefone_id"],
            ["lead_telefones.telefone_id"],
            name=op.f("fk_disparos_telefone_id_lead_telefones"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_disparos_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["whatsapp_number_id"],
            ["whatsapp_numbers.id"],
            name=op.f("fk_disparos_whatsapp_number_id_whatsapp_numbers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("disparo_id", name=op.f("pk_disparos")),
        sa.UniqueConstraint("correlation", name="uq_disparos_correlation"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_disparos_tenant_idempotency"),
    )
    with op.batch_alter_table("disparos", schema=None) as batch_op:
        batch_op.create_index("ix_disparos_due", ["status", "run_at"], unique=False)
        batch_op.create_index("ix_disparos_email", ["email_message_id"], unique=False)
        batch_op.create_index("ix_disparos_lead", ["lead_id", "created_at"], unique=False)
        batch_op.create_index("ix_disparos_provider_message", ["provider_message_id"], unique=False)
        batch_op.create_index(
            "ix_disparos_tenant_created", ["tenant_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_disparos_tenant_destino", ["tenant_id", "destino"], unique=False)

    op.create_table(
        "disparo_dead_letters",
        sa.Column(
            "disparo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("motivo", sa.Text(), nullable=False),
        sa.Column("error_class", sa.String(length=32), nullable=True),
        sa.Column("moved_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "requeued_as_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["disparo_id"],
            ["disparos.disparo_id"],
            name=op.f("fk_disparo_dead_letters_disparo_id_disparos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requeued_as_id"],
            ["disparos.disparo_id"],
            name=op.f("fk_disparo_dead_letters_requeued_as_id_disparos"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_disparo_dead_letters_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("disparo_id", name=op.f("pk_disparo_dead_letters")),
    )
    with op.batch_alter_table("disparo_dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disparo_dead_letters_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_disparo_dead_letters_tenant_moved", ["tenant_id", "moved_at"], unique=False
        )

    op.create_table(
        "disparo_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "disparo_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["disparo_id"],
            ["disparos.disparo_id"],
            name=op.f("fk_disparo_events_disparo_id_disparos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_disparo_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disparo_events")),
        sa.UniqueConstraint("disparo_id", "dedupe_key", name="uq_disparo_events_dedupe"),
    )
    with op.batch_alter_table("disparo_events", schema=None) as batch_op:
        batch_op.create_index("ix_disparo_events_disparo", ["disparo_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("disparo_events", schema=None) as batch_op:
        batch_op.drop_index("ix_disparo_events_disparo")

    op.drop_table("disparo_events")
    with op.batch_alter_table("disparo_dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_disparo_dead_letters_tenant_moved")
        batch_op.drop_index(batch_op.f("ix_disparo_dead_letters_expires_at"))

    op.drop_table("disparo_dead_letters")
    with op.batch_alter_table("disparos", schema=None) as batch_op:
        batch_op.drop_index("ix_disparos_tenant_destino")
        batch_op.drop_index("ix_disparos_tenant_created")
        batch_op.drop_index("ix_disparos_provider_message")
        batch_op.drop_index("ix_disparos_lead")
        batch_op.drop_index("ix_disparos_email")
        batch_op.drop_index("ix_disparos_due")

    op.drop_table("disparos")
    op.drop_table("whatsapp_windows")
    with op.batch_alter_table("whatsapp_webhooks", schema=None) as batch_op:
        batch_op.drop_index("ix_whatsapp_webhooks_pending")

    op.drop_table("whatsapp_webhooks")
    with op.batch_alter_table("whatsapp_inbound", schema=None) as batch_op:
        batch_op.drop_index("ix_whatsapp_inbound_tenant_lead")

    op.drop_table("whatsapp_inbound")
    op.drop_table("contact_consents")
    op.drop_table("whatsapp_templates")
    op.drop_table("whatsapp_numbers")
    op.drop_table("do_not_contact")
