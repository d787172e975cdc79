"""Request and response shapes of appointments (seed names: agendamentos)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from carteiro.appointments.zones import check_zone
from carteiro.db.types import RowId, StoredDatetime

Tipo = Literal["callback", "reuniao"]
Canal = Literal["telefone", "whatsapp", "video"]
Status = Literal["pendente", "realizado", "cancelado", "nao_compareceu"]
ReminderStatus = Literal["agendado", "enviado", "cancelado", "pulado"]
ReminderChannel = Literal["email", "whatsapp", "owner"]
Zone = Annotated[str, Field(max_length=64), AfterValidator(check_zone)]
# At most 30 days before; at most ten reminders per appointment.
Offsets = Annotated[list[Annotated[int, Field(ge=0, le=43200)]], Field(max_length=10)]
Observacoes = Annotated[str, Field(max_length=5000)]


class AgendamentoCreate(BaseModel):
    """The seed's body (`tipo, canal, data_agendada, observacoes`) plus optional details."""

    model_config = ConfigDict(extra="forbid")

    tipo: Tipo
    canal: Canal
    data_agendada: StoredDatetime = Field(description="ISO 8601 with a UTC offset")
    observacoes: Observacoes | None = None
    duracao_minutos: int | None = Field(None, ge=5, le=1440, description="default 30")
    timezone: Zone | None = Field(
        None, description="IANA zone shown to the lead, e.g. America/Sao_Paulo"
    )
    owner_user_id: RowId | None = Field(None, description="the person who owns the appointment")
    lembretes_minutos: Offsets | None = Field(
        None, description="minutes before the start each reminder fires; default 1440 and 60"
    )
    enviar_convite: bool = Field(True, description="e-mail a calendar invitation to the lead")


class AgendamentoCreated(BaseModel):
    """The seed's response, exactly."""

    agendamento_id: int
    status: Status
    data_agendada: datetime


class AgendamentoUpdate(BaseModel):
    """A reschedule (new `data_agendada`) and/or other changes; absent fields stay."""

    model_config = ConfigDict(extra="forbid")

    data_agendada: StoredDatetime | None = None
    duracao_minutos: int | None = Field(None, ge=5, le=1440)
    timezone: Zone | None = None
    observacoes: Observacoes | None = None
    owner_user_id: RowId | None = None
    lembretes_minutos: Offsets | None = None


class AgendamentoCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    motivo_cancelamento: str = Field(
        min_length=1, max_length=1000, description="why it was cancelled (required)"
    )


class AgendamentoDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    observacoes: Observacoes | None = None


class LembretePublic(BaseModel):
    id: int
    offset_minutos: int
    channel: ReminderChannel
    due_at: datetime
    status: ReminderStatus
    motivo: str | None
    email_id: int | None
    fired_at: datetime | None


class EventoPublic(BaseModel):
    id: int
    tipo: str
    detalhe: dict[str, Any]
    ator: str | None
    created_at: datetime


class AgendamentoPublic(BaseModel):
    agendamento_id: int
    lead_id: int
    lead_nome: str | None
    tipo: Tipo
    canal: Canal
    data_agendada: datetime
    duracao_minutos: int
    timezone: str
    status: Status
    observacoes: str | None
    owner_user_id: int | None
    video_url: str | None
    ics_uid: str
    ics_sequence: int
    realizado_em: datetime | None
    cancelado_em: datetime | None
    motivo_cancelamento: str | None
    created_at: datetime
    updated_at: datetime
    lembretes: list[LembretePublic]


class AgendamentoDetail(AgendamentoPublic):
    eventos: list[EventoPublic]


class AgendamentoPage(BaseModel):
    items: list[AgendamentoPublic]
    total: int
    limit: int
    offset: int


class NotificacaoPublic(BaseModel):
    id: int
    agendamento_id: int
    user_id: int | None
    tipo: str
    mensagem: str
    lida: bool
    created_at: datetime


class ReminderDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lembretes_minutos: Offsets
