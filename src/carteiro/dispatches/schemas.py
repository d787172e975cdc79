"""Dispatch shapes: the seed's request and answer, the public view, pages, dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from carteiro.db.types import RowId, StoredDatetime

Canal = Literal["email", "whatsapp"]
Purpose = Literal["transacional", "cobranca", "marketing", "agendamento"]
Status = Literal["pendente", "enviado", "confirmado", "erro", "cancelado"]


class DisparoPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variaveis: dict[str, Any] = Field(default_factory=dict, max_length=60)
    # WhatsApp: free text sent while the 24 h window is open (else the template is used).
    texto: str | None = Field(None, max_length=4096)
    # E-mail: subject and body ({{variable}} placeholders); default: the template's name.
    assunto: str | None = Field(None, max_length=500)
    corpo: str | None = Field(None, max_length=100_000)
    html: str | None = Field(None, max_length=500_000)


class DisparoCreate(BaseModel):
    """Seed body of `POST /leads/{lead_id}/disparos`; the fields after `agendar_para` are
    optional extensions."""

    model_config = ConfigDict(extra="forbid")

    canal: Canal
    telefone_id: RowId | None = None
    email_id: RowId | None = None
    template: str = Field(min_length=1, max_length=128)
    payload: DisparoPayload = Field(default_factory=DisparoPayload)
    agendar_para: StoredDatetime | None = Field(
        None, description="ISO 8601 with offset; empty or past: as soon as possible"
    )
    purpose: Purpose = "transacional"
    nao_enviar_apos: StoredDatetime | None = Field(
        None, description="never sent after this moment (skipped instead)"
    )
    quiet_policy: Literal["cobranca_br", "comercial", "none"] | None = Field(
        None, description="contact-hours policy; default by purpose (cobranca: cobranca_br)"
    )
    on_quiet: Literal["defer", "skip", "fail"] = "defer"
    whatsapp_number: str | None = Field(None, max_length=64, description="number name or id")

    @field_validator("agendar_para", "nao_enviar_apos", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


class DisparoCreated(BaseModel):
    """Seed answer: `{disparo_id, status: "pendente", data_agendado}`."""

    disparo_id: int
    status: Status
    data_agendado: datetime


class DisparoEventPublic(BaseModel):
    kind: str
    at: datetime
    detail: dict[str, Any] | None


class DisparoPublic(BaseModel):
    disparo_id: int
    lead_id: int | None
    canal: str
    destino: str
    template: str
    payload: dict[str, Any]
    purpose: str
    status: Status
    mensagem_erro: str | None
    error_class: str | None
    error_code: str | None
    data_agendado: datetime
    proxima_tentativa: datetime | None
    data_envio: datetime | None
    data_retorno: datetime | None
    tentativas: int
    max_tentativas: int
    provider_message_id: str | None
    recipient_id: str | None
    sent_as: str | None
    email_message_id: int | None
    requeued_from_id: int | None
    dead_letter: bool
    created_at: datetime
    updated_at: datetime
    events: list[DisparoEventPublic] | None = None


class DisparoPage(BaseModel):
    items: list[DisparoPublic]
    total: int
    limit: int
    offset: int


class DeadLetterPublic(BaseModel):
    disparo_id: int
    lead_id: int | None
    canal: str
    destino: str
    motivo: str
    error_class: str | None
    moved_at: datetime
    expires_at: datetime
    requeued_as_id: int | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterPublic]
    total: int
    limit: int
    offset: int


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    canal: Canal
    purpose: Purpose
    granted: bool
    legal_basis: Literal[
        "consentimento", "contrato", "exercicio_direitos", "protecao_credito", "legitimo_interesse"
    ]
    evidence: str | None = Field(None, max_length=4000)


class ConsentPublic(BaseModel):
    lead_id: int | None
    canal: str
    purpose: str
    granted: bool
    legal_basis: str
    evidence: str | None
    recorded_at: datetime


class DoNotContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=3, max_length=320, description="E.164 phone or e-mail")
    reason: str | None = Field(None, max_length=500)
