"""appointments: agendamentos, their event log, reminders, console notifications and tenant
reminder defaults

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import carteiro.db.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agendamento_config",
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "lembretes_minutos",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agendamento_config_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_agendamento_config")),
    )
    op.create_table(
        "agendamentos",
        sa.Column(
            "agendamento_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tipo", sa.String(length=16), nullable=False),
        sa.Column("canal", sa.String(length=16), nullable=False),
        sa.Column("data_agendada", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duracao_minutos", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pendente'"), nullable=False
        ),
        sa.Column("observacoes", sa.Text(), nullable=True),
        sa.Column(
            "owner_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "lembretes_minutos",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("enviar_convite", sa.Boolean(), nullable=False),
        sa.Column("ics_uid", sa.String(length=255), nullable=False),
        sa.Column("ics_sequence", sa.Integer(), nullable=False),
        sa.Column("video_url", sa.String(length=1000), nullable=True),
        sa.Column("realizado_em", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelado_em", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("motivo_cancelamento", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.lead_id"],
            name=op.f("fk_agendamentos_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_agendamentos_owner_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agendamentos_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agendamento_id", name=op.f("pk_agendamentos")),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_agendamentos_tenant_idem"),
    )
    with op.batch_alter_table("agendamentos", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agendamentos_tenant_data", ["tenant_id", "data_agendada"], unique=False
        )
        batch_op.create_index("ix_agendamentos_tenant_lead", ["tenant_id", "lead_id"], unique=False)
        batch_op.create_index(
            "ix_agendamentos_tenant_status", ["tenant_id", "status", "data_agendada"], unique=False
        )

    op.create_table(
        "agendamento_eventos",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "agendamento_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tipo", sa.String(length=32), nullable=False),
        sa.Column(
            "detalhe",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("ator", sa.String(length=200), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agendamento_id"],
            ["agendamentos.agendamento_id"],
            name=op.f("fk_agendamento_eventos_agendamento_id_agendamentos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agendamento_eventos_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agendamento_eventos")),
    )
    with op.batch_alter_table("agendamento_eventos", schema=None) as batch_op:
        batch_op.create_index("ix_agendamento_eventos_ag", ["agendamento_id", "id"], unique=False)

    op.create_table(
        "agendamento_lembretes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "agendamento_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("offset_minutos", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("alvo", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'agendado'"), nullable=False
        ),
        sa.Column("motivo", sa.Text(), nullable=True),
        sa.Column("email_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tentativas", sa.Integer(), nullable=False),
        sa.Column("fired_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agendamento_id"],
            ["agendamentos.agendamento_id"],
            name=op.f("fk_agendamento_lembretes_agendamento_id_agendamentos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agendamento_lembretes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agendamento_lembretes")),
    )
    with op.batch_alter_table("agendamento_lembretes", schema=None) as batch_op:
        batch_op.create_index("ix_agendamento_lembretes_ag", ["agendamento_id"], unique=False)
        batch_op.create_index("ix_agendamento_lembretes_due", ["status", "due_at"], unique=False)

    op.create_table(
        "agendamento_notificacoes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "agendamento_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tipo", sa.String(length=32), nullable=False),
        sa.Column("mensagem", sa.Text(), nullable=False),
        sa.Column("lida", sa.Boolean(), nullable=False),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agendamento_id"],
            ["agendamentos.agendamento_id"],
            name=op.f("fk_agendamento_notificacoes_agendamento_id_agendamentos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_agendamento_notificacoes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_agendamento_notificacoes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agendamento_notificacoes")),
    )
    with op.batch_alter_table("agendamento_notificacoes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agendamento_notificacoes_tenant", ["tenant_id", "lida", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("agendamento_notificacoes", schema=None) as batch_op:
        batch_op.drop_index("ix_agendamento_notificacoes_tenant")

    op.drop_table("agendamento_notificacoes")
    with op.batch_alter_table("agendamento_lembretes", schema=None) as batch_op:
        batch_op.drop_index("ix_agendamento_lembretes_due")
        batch_op.drop_index("ix_agendamento_lembretes_ag")

    op.drop_table("agendamento_lembretes")
    with op.batch_alter_table("agendamento_eventos", schema=None) as batch_op:
        batch_op.drop_index("ix_agendamento_eventos_ag")

    op.drop_table("agendamento_eventos")
    with op.batch_alter_table("agendamentos", schema=None) as batch_op:
        batch_op.drop_index("ix_agendamentos_tenant_status")
        batch_op.drop_index("ix_agendamentos_tenant_lead")
        batch_op.drop_index("ix_agendamentos_tenant_data")

    op.drop_table("agendamentos")
    op.drop_table("agendamento_config")
