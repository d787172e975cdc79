"""leads: leads, lead e-mails and phones (with consent), ingest jobs, uploads and staging

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import carteiro.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("lead_id_externo", sa.String(length=128), nullable=False),
        sa.Column("origem_arquivo", sa.String(length=255), nullable=True),
        sa.Column("origem_aba", sa.String(length=255), nullable=True),
        sa.Column("linha_planilha", sa.Integer(), nullable=True),
        sa.Column(
            "ingest_job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("nome", sa.Text(), nullable=True),
        sa.Column("contato_nome", sa.Text(), nullable=True),
        sa.Column("documento", sa.String(length=64), nullable=True),
        sa.Column("documento_tipo", sa.String(length=8), nullable=True),
        sa.Column("documento_valido", sa.Boolean(), nullable=True),
        sa.Column("documento_raw", sa.Text(), nullable=True),
        sa.Column("email_raw", sa.Text(), nullable=True),
        sa.Column("telefone_raw", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=32), server_default=sa.text("'novo'"), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            server_default=sa.text("'[]'"),
            nullable=False,
        ),
        sa.Column("data_ingestao", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "data_ultimo_evento", carteiro.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("updated_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_leads_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_leads")),
        sa.UniqueConstraint("tenant_id", "lead_id_externo", name="uq_leads_tenant_externo"),
    )
    op.create_index("ix_leads_tenant_status", "leads", ["tenant_id", "status"], unique=False)
    op.create_table(
        "ingest_jobs",
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "api_key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("arquivo_origem", sa.String(length=255), nullable=False),
        sa.Column("armazenamento", sa.String(length=1100), nullable=False),
        sa.Column("tamanho", sa.Integer(), nullable=True),
        sa.Column("formato", sa.String(length=8), nullable=True),
        sa.Column("aba", sa.String(length=255), nullable=True),
        sa.Column(
            "mapeamento",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("linhas_total", sa.Integer(), nullable=True),
        sa.Column("linhas_processadas", sa.Integer(), nullable=False),
        sa.Column("linhas_vazias", sa.Integer(), nullable=False),
        sa.Column("linhas_duplicadas", sa.Integer(), nullable=False),
        sa.Column("leads_criados", sa.Integer(), nullable=False),
        sa.Column("leads_atualizados", sa.Integer(), nullable=False),
        sa.Column("telefones_criados", sa.Integer(), nullable=False),
        sa.Column("emails_criados", sa.Integer(), nullable=False),
        sa.Column(
            "erros",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("erros_total", sa.Integer(), nullable=False),
        sa.Column("mensagem_erro", sa.Text(), nullable=True),
        sa.Column("tentativas", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("iniciado_em", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("concluido_em", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_ingest_jobs_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_ingest_jobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_ingest_jobs")),
    )
    op.create_index("ix_ingest_jobs_claim", "ingest_jobs", ["status", "lease_until"], unique=False)
    op.create_index(
        "ix_ingest_jobs_tenant_created", "ingest_jobs", ["tenant_id", "created_at"], unique=False
    )
    op.create_table(
        "lead_emails",
        sa.Column("email_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_principal", sa.Boolean(), nullable=False),
        sa.Column("valido_para_disparo", sa.Boolean(), nullable=False),
        sa.Column(
            "consentimento",
            sa.String(length=16),
            server_default=sa.text("'unknown'"),
            nullable=False,
        ),
        sa.Column("consentimento_origem", sa.String(length=255), nullable=True),
        sa.Column("consentimento_em", carteiro.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.lead_id"],
            name=op.f("fk_lead_emails_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_lead_emails_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("email_id", name=op.f("pk_lead_emails")),
        sa.UniqueConstraint("lead_id", "email", name="uq_lead_emails_lead_email"),
    )
    op.create_index(
        "ix_lead_emails_tenant_email", "lead_emails", ["tenant_id", "email"], unique=False
    )
    op.create_table(
        "lead_telefones",
        sa.Column(
            "telefone_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("telefone", sa.String(length=20), nullable=False),
        sa.Column("telefone_principal", sa.Boolean(), nullable=False),
        sa.Column("tipo_origem", sa.String(length=16), nullable=True),
        sa.Column("tipo", sa.String(length=16), nullable=False),
        sa.Column("valido_para_disparo", sa.Boolean(), nullable=False),
        sa.Column("created_at", carteiro.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.lead_id"],
            name=op.f("fk_lead_telefones_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_lead_telefones_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("telefone_id", name=op.f("pk_lead_telefones")),
        sa.UniqueConstraint("lead_id", "telefone", name="uq_lead_telefones_lead_telefone"),
    )
    op.create_index(
        "ix_lead_telefones_tenant_telefone",
        "lead_telefones",
        ["tenant_id", "telefone"],
        unique=False,
    )
    op.create_table(
        "ingest_stage_contacts",
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pos", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("lead_id_externo", sa.String(length=128), nullable=False),
        sa.Column("valor", sa.String(length=320), nullable=False),
        sa.Column("tipo", sa.String(length=16), nullable=True),
        sa.Column("tipo_origem", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["ingest_jobs.job_id"],
            name=op.f("fk_ingest_stage_contacts_job_id_ingest_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", "pos", name=op.f("pk_ingest_stage_contacts")),
    )
    op.create_table(
        "ingest_stage_leads",
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("lead_id_externo", sa.String(length=128), nullable=False),
        sa.Column("linha_planilha", sa.Integer(), nullable=False),
        sa.Column("nome", sa.Text(), nullable=True),
        sa.Column("contato_nome", sa.Text(), nullable=True),
        sa.Column("documento", sa.String(length=64), nullable=True),
        sa.Column("documento_tipo", sa.String(length=8), nullable=True),
        sa.Column("documento_valido", sa.Boolean(), nullable=True),
        sa.Column("documento_raw", sa.Text(), nullable=True),
        sa.Column("email_raw", sa.Text(), nullable=True),
        sa.Column("telefone_raw", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["ingest_jobs.job_id"],
            name=op.f("fk_ingest_stage_leads_job_id_ingest_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_ingest_stage_leads")),
    )
    op.create_table(
        "ingest_uploads",
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("conteudo", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["ingest_jobs.job_id"],
            name=op.f("fk_ingest_uploads_job_id_ingest_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_ingest_uploads")),
    )


def downgrade() -> None:
    op.drop_table("ingest_uploads")
    op.drop_table("ingest_stage_leads")
    op.drop_table("ingest_stage_contacts")
    op.drop_index("ix_lead_telefones_tenant_telefone", table_name="lead_telefones")
    op.drop_table("lead_telefones")
    op.drop_index("ix_lead_emails_tenant_email", table_name="lead_emails")
    op.drop_table("lead_emails")
    op.drop_index("ix_ingest_jobs_tenant_created", table_name="ingest_jobs")
    op.drop_index("ix_ingest_jobs_claim", table_name="ingest_jobs")
    op.drop_table("ingest_jobs")
    op.drop_index("ix_leads_tenant_status", table_name="leads")
    op.drop_table("leads")
