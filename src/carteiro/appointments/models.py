"""Appointment tables (seed names): agendamentos, their event log, reminders and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carteiro.db.base import Base
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime, utcnow

TIPOS = ("callback", "reuniao")
CANAIS = ("telefone", "whatsapp", "video")
# nao_compareceu: the lead did not show up (a no-show), set by the owner like realizado.
STATUSES = ("pendente", "realizado", "cancelado", "nao_compareceu")
REMINDER_STATUSES = ("agendado", "enviado", "cancelado", "pulado")
# How a reminder reaches someone: the lead by e-mail or WhatsApp, or the owning person.
REMINDER_CHANNELS = ("email", "whatsapp", "owner")


class Agendamento(Base):
    __tablename__ = "agendamentos"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_agendamentos_tenant_idem"),
        Index("ix_agendamentos_tenant_data", "tenant_id", "data_agendada"),
        Index("ix_agendamentos_tenant_lead", "tenant_id", "lead_id"),
        Index("ix_agendamentos_tenant_status", "tenant_id", "status", "data_agendada"),
    )

    agendamento_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    lead_id: Mapped[int] = mapped_column(
        ForeignKey("leads.lead_id", ondelete="CASCADE"), nullable=False
    )
    tipo: Mapped[str] = mapped_column(String(16), nullable=False)
    canal: Mapped[str] = mapped_column(String(16), nullable=False)
    data_agendada: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    duracao_minutos: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    # IANA zone the appointment is shown and invited in (the lead's, usually).
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="pendente", server_default=text("'pendente'")
    )
    observacoes: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # Minutes before the start each reminder fires; None: the tenant's defaults.
    lembretes_minutos: Mapped[list[int] | None] = mapped_column(JSONType, nullable=True)
    enviar_convite: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    ics_uid: Mapped[str] = mapped_column(String(255), nullable=False)
    ics_sequence: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    video_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    realizado_em: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelado_em: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    motivo_cancelamento: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class AgendamentoEvento(Base):
    """Append-only: what happened to an appointment, by whom, when."""

    __tablename__ = "agendamento_eventos"
    __table_args__ = (Index("ix_agendamento_eventos_ag", "agendamento_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    agendamento_id: Mapped[int] = mapped_column(
        ForeignKey("agendamentos.agendamento_id", ondelete="CASCADE"), nullable=False
    )
    tipo: Mapped[str] = mapped_column(String(32), nullable=False)
    detalhe: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    ator: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Lembrete(Base):
    """One reminder: due at `due_at` for the appointment time it was made for; leased when
    claimed, so any number of workers may fire them."""

    __tablename__ = "agendamento_lembretes"
    __table_args__ = (
        Index("ix_agendamento_lembretes_due", "status", "due_at"),
        Index("ix_agendamento_lembretes_ag", "agendamento_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    agendamento_id: Mapped[int] = mapped_column(
        ForeignKey("agendamentos.agendamento_id", ondelete="CASCADE"), nullable=False
    )
    offset_minutos: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    # The start time this reminder was computed for: a moved appointment never matches it.
    alvo: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="agendado", server_default=text("'agendado'")
    )
    motivo: Mapped[str | None] = mapped_column(Text, nullable=True)
    email_id: Mapped[int | None] = mapped_column(BigIntPK, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    tentativas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class Notificacao(Base):
    """A note for a person in the console (a callback to make, a reminder for one)."""

    __tablename__ = "agendamento_notificacoes"
    __table_args__ = (Index("ix_agendamento_notificacoes_tenant", "tenant_id", "lida", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    # None: for whoever handles the tenant's callbacks (no owner chosen).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    agendamento_id: Mapped[int] = mapped_column(
        ForeignKey("agendamentos.agendamento_id", ondelete="CASCADE"), nullable=False
    )
    tipo: Mapped[str] = mapped_column(String(32), nullable=False)
    mensagem: Mapped[str] = mapped_column(Text, nullable=False)
    lida: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class AgendamentoConfig(Base):
    """A tenant's own reminder defaults (absent: the settings')."""

    __tablename__ = "agendamento_config"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    lembretes_minutos: Mapped[list[int]] = mapped_column(JSONType, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
