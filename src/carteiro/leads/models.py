"""Lead tables (seed names): leads, their e-mails and phones, ingest jobs and their staging."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carteiro.db.base import Base
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime, utcnow

LEAD_STATUSES = ("novo", "contatado", "qualificado", "convertido", "descartado")
JOB_STATUSES = ("pendente", "processando", "concluido", "erro")
CONSENT = ("unknown", "opt_in", "opt_out")
PHONE_TYPES = ("mobile", "landline", "other")


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("tenant_id", "lead_id_externo", name="uq_leads_tenant_externo"),
        Index("ix_leads_tenant_status", "tenant_id", "status"),
    )

    lead_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    lead_id_externo: Mapped[str] = mapped_column(String(128), nullable=False)
    origem_arquivo: Mapped[str | None] = mapped_column(String(255), nullable=True)
    origem_aba: Mapped[str | None] = mapped_column(String(255), nullable=True)
    linha_planilha: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The job that last wrote the row (no foreign key: jobs may be purged, leads stay).
    ingest_job_id: Mapped[int | None] = mapped_column(BigIntPK, nullable=True)
    nome: Mapped[str | None] = mapped_column(Text, nullable=True)
    contato_nome: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Digits only when valid; otherwise the cell as written (see documento_valido).
    documento: Mapped[str | None] = mapped_column(String(64), nullable=True)
    documento_tipo: Mapped[str | None] = mapped_column(String(8), nullable=True)
    documento_valido: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    documento_raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    email_raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    telefone_raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(
        String(32), nullable=False, default="novo", server_default=text("'novo'")
    )
    tags: Mapped[list[str]] = mapped_column(
        JSONType, nullable=False, default=list, server_default=text("'[]'")
    )
    data_ingestao: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    data_ultimo_evento: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class LeadEmail(Base):
    __tablename__ = "lead_emails"
    __table_args__ = (
        UniqueConstraint("lead_id", "email", name="uq_lead_emails_lead_email"),
        # is_mailable and "messages to this address" look addresses up across the tenant.
        Index("ix_lead_emails_tenant_email", "tenant_id", "email"),
        # The leads list's consent filter reads the leads of one consent state from it alone.
        Index("ix_lead_emails_tenant_consent", "tenant_id", "consentimento", "lead_id"),
    )

    email_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    lead_id: Mapped[int] = mapped_column(
        ForeignKey("leads.lead_id", ondelete="CASCADE"), nullable=False
    )
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    email_principal: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    valido_para_disparo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    consentimento: Mapped[str] = mapped_column(
        String(16), nullable=False, default="unknown", server_default=text("'unknown'")
    )
    consentimento_origem: Mapped[str | None] = mapped_column(String(255), nullable=True)
    consentimento_em: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class LeadTelefone(Base):
    __tablename__ = "lead_telefones"
    __table_args__ = (
        UniqueConstraint("lead_id", "telefone", name="uq_lead_telefones_lead_telefone"),
        Index("ix_lead_telefones_tenant_telefone", "tenant_id", "telefone"),
    )

    telefone_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    lead_id: Mapped[int] = mapped_column(
        ForeignKey("leads.lead_id", ondelete="CASCADE"), nullable=False
    )
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    telefone: Mapped[str] = mapped_column(String(20), nullable=False)  # E.164
    telefone_principal: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The kind of column it came from: whatsapp, celular or telefone.
    tipo_origem: Mapped[str | None] = mapped_column(String(16), nullable=True)
    tipo: Mapped[str] = mapped_column(String(16), nullable=False, default="other")
    valido_para_disparo: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class IngestJob(Base):
    """One import: created by the API or CLI, claimed by a worker with a lease, then final."""

    __tablename__ = "ingest_jobs"
    __table_args__ = (
        Index("ix_ingest_jobs_claim", "status", "lease_until"),
        Index("ix_ingest_jobs_tenant_created", "tenant_id", "created_at"),
    )

    job_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True
    )
    arquivo_origem: Mapped[str] = mapped_column(String(255), nullable=False)
    # "db" (bytes in ingest_uploads) or "file:<absolute path>".
    armazenamento: Mapped[str] = mapped_column(String(1100), nullable=False)
    tamanho: Mapped[int | None] = mapped_column(Integer, nullable=True)
    formato: Mapped[str | None] = mapped_column(String(8), nullable=True)
    aba: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mapeamento: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pendente")
    linhas_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    linhas_processadas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    linhas_vazias: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    linhas_duplicadas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    leads_criados: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    leads_atualizados: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    telefones_criados: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    emails_criados: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    erros: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False, default=list)
    erros_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mensagem_erro: Mapped[str | None] = mapped_column(Text, nullable=True)
    tentativas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    iniciado_em: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    concluido_em: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IngestUpload(Base):
    """An uploaded file's bytes, kept in the database so any worker can process the job."""

    __tablename__ = "ingest_uploads"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("ingest_jobs.job_id", ondelete="CASCADE"), primary_key=True
    )
    conteudo: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class IngestStageLead(Base):
    """A parsed, deduplicated row waiting for its job's final merge (never read by queries)."""

    __tablename__ = "ingest_stage_leads"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("ingest_jobs.job_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    lead_id_externo: Mapped[str] = mapped_column(String(128), nullable=False)
    linha_planilha: Mapped[int] = mapped_column(Integer, nullable=False)
    nome: Mapped[str | None] = mapped_column(Text, nullable=True)
    contato_nome: Mapped[str | None] = mapped_column(Text, nullable=True)
    documento: Mapped[str | None] = mapped_column(String(64), nullable=True)
    documento_tipo: Mapped[str | None] = mapped_column(String(8), nullable=True)
    documento_valido: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    documento_raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    email_raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    telefone_raw: Mapped[str | None] = mapped_column(Text, nullable=True)


class IngestStageContact(Base):
    """A parsed e-mail (kind 'e') or phone (kind 't') of a staged row, in sheet order."""

    __tablename__ = "ingest_stage_contacts"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("ingest_jobs.job_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    pos: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(1), nullable=False)
    lead_id_externo: Mapped[str] = mapped_column(String(128), nullable=False)
    valor: Mapped[str] = mapped_column(String(320), nullable=False)
    tipo: Mapped[str | None] = mapped_column(String(16), nullable=True)
    tipo_origem: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Suppression(Base):
    """An address (`kind` email) or a whole domain (`kind` domain) that must not receive mail.

    `value` is the lower-case address or ASCII domain; addresses contain '@' and domains never
    do, so one unique index answers both kinds in one lookup."""

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "value", name="uq_suppressions_tenant_value"),
        Index("ix_suppressions_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    value: Mapped[str] = mapped_column(String(320), nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
