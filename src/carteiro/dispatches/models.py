"""Dispatch tables (seed names): disparos, their event log, the dead-letter list, consent, DNC."""

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
)
from sqlalchemy.orm import Mapped, mapped_column

from carteiro.db.base import Base
from carteiro.db.types import BigIntPK, JSONType, UTCDateTime, utcnow

CHANNELS = ("email", "whatsapp")
STATUSES = ("pendente", "enviado", "confirmado", "erro", "cancelado")
FINAL = ("confirmado", "erro", "cancelado")
PURPOSES = ("transacional", "cobranca", "marketing", "agendamento")
ON_QUIET = ("defer", "skip", "fail")


class Disparo(Base):
    __tablename__ = "disparos"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_disparos_tenant_idempotency"),
        UniqueConstraint("correlation", name="uq_disparos_correlation"),
        Index("ix_disparos_due", "status", "run_at"),
        Index("ix_disparos_tenant_created", "tenant_id", "created_at"),
        Index("ix_disparos_lead", "lead_id", "created_at"),
        Index("ix_disparos_provider_message", "provider_message_id"),
        Index("ix_disparos_email", "email_message_id"),
        # The pair limit and opt-outs look dispatches up by number.
        Index("ix_disparos_tenant_destino", "tenant_id", "destino"),
    )

    disparo_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    # None only for channel sends to a number no lead has (POST /mcp/whatsapp/send).
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.lead_id", ondelete="CASCADE"), nullable=True
    )
    canal: Mapped[str] = mapped_column(String(16), nullable=False)
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead_emails.email_id", ondelete="SET NULL"), nullable=True
    )
    telefone_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead_telefones.telefone_id", ondelete="SET NULL"), nullable=True
    )
    # The address or E.164 number at creation time (the lead's rows may change later).
    destino: Mapped[str] = mapped_column(String(320), nullable=False)
    template: Mapped[str] = mapped_column(String(128), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False, default="transacional")
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="api")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pendente")
    mensagem_erro: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_class: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    data_agendado: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # When the worker next looks at it: the schedule, a retry, a deferral out of quiet hours.
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Never sent after this (a reminder's appointment start, a collection's deadline).
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    data_envio: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    data_retorno: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    tentativas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_tentativas: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set before a provider call and cleared with its result: a row found with it set was
    # (maybe) sent by a worker that died, so it is never re-sent blindly.
    inflight_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # An ambiguous attempt waits for a status webhook carrying `correlation` until then.
    awaiting_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Sent as biz_opaque_callback_data; statuses carry it back.
    correlation: Mapped[str] = mapped_column(String(64), nullable=False)
    provider_message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # WhatsApp's own id for the recipient (the Brazilian ninth digit may differ from destino).
    recipient_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    whatsapp_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("whatsapp_numbers.id", ondelete="SET NULL"), nullable=True
    )
    # The outbound e-mail carrying an e-mail dispatch (its status follows the e-mail's).
    email_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("emails.id", ondelete="SET NULL"), nullable=True
    )
    # What was actually sent: "text" or "template" (after a fallback out of the window).
    sent_as: Mapped[str | None] = mapped_column(String(16), nullable=True)
    requeued_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("disparos.disparo_id", ondelete="SET NULL"), nullable=True
    )
    quiet_policy: Mapped[str | None] = mapped_column(String(32), nullable=True)
    on_quiet: Mapped[str] = mapped_column(String(8), nullable=False, default="defer")
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deferred_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow
    )


class DisparoEvent(Base):
    """Append-only history of one dispatch; `dedupe_key` makes webhook replays harmless."""

    __tablename__ = "disparo_events"
    __table_args__ = (
        UniqueConstraint("disparo_id", "dedupe_key", name="uq_disparo_events_dedupe"),
        Index("ix_disparo_events_disparo", "disparo_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    disparo_id: Mapped[int] = mapped_column(
        ForeignKey("disparos.disparo_id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class DisparoDeadLetter(Base):
    """A dispatch that failed for good, kept 14 days for a person to look at or requeue."""

    __tablename__ = "disparo_dead_letters"
    __table_args__ = (Index("ix_disparo_dead_letters_tenant_moved", "tenant_id", "moved_at"),)

    disparo_id: Mapped[int] = mapped_column(
        ForeignKey("disparos.disparo_id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    motivo: Mapped[str] = mapped_column(Text, nullable=False)
    error_class: Mapped[str | None] = mapped_column(String(32), nullable=True)
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    requeued_as_id: Mapped[int | None] = mapped_column(
        ForeignKey("disparos.disparo_id", ondelete="SET NULL"), nullable=True
    )


class ContactConsent(Base):
    """LGPD consent per (lead, channel, purpose): its legal basis and evidence."""

    __tablename__ = "contact_consents"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "lead_id", "canal", "purpose", name="uq_contact_consents_scope"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    lead_id: Mapped[int] = mapped_column(
        ForeignKey("leads.lead_id", ondelete="CASCADE"), nullable=False
    )
    canal: Mapped[str] = mapped_column(String(16), nullable=False)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    granted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # consentimento, contrato, exercicio_direitos, protecao_credito, legitimo_interesse.
    legal_basis: Mapped[str] = mapped_column(String(32), nullable=False)
    evidence: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class DoNotContact(Base):
    """A phone (E.164) or address the tenant must never contact (opt-outs, Não Me Ligue)."""

    __tablename__ = "do_not_contact"
    __table_args__ = (UniqueConstraint("tenant_id", "value", name="uq_do_not_contact_value"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    value: Mapped[str] = mapped_column(String(320), nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
