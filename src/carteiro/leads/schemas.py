"""Lead and ingest-job shapes for the API, MCP and CLI (seed field names kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["pendente", "processando", "concluido", "erro"]
LeadStatus = Literal["novo", "contatado", "qualificado", "convertido", "descartado"]
Consent = Literal["unknown", "opt_in", "opt_out"]
MAX_TAGS = 50


class IngestPathRequest(BaseModel):
    """Import a file already on the server (inside its uploads folder)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1,
        max_length=1024,
        description="a file inside the tenant's uploads folder (DATA_DIR/uploads/<tenant id>); "
        "relative paths are resolved there",
    )
    sheet: str | None = Field(None, max_length=255, description="sheet name; default 'Leads'")
    mapping: dict[str, str | list[str] | None] | None = Field(
        None,
        description="field → header text, overriding detection: lead_id_externo, nome, "
        "contato_nome, documento, email (one or a list), telefone (one or a list); '' ignores",
    )


class IngestAccepted(BaseModel):
    job_id: int
    status: Literal["accepted"] = "accepted"


class RowError(BaseModel):
    linha: int | None = Field(description="spreadsheet row number (as the program shows it)")
    coluna: str | None = Field(description="the column's header")
    valor: str | None = Field(description="the offending value, shortened")
    motivo: str


class IngestJobPublic(BaseModel):
    job_id: int
    status: JobStatus
    arquivo_origem: str
    formato: str | None
    aba: str | None
    linhas_total: int | None
    linhas_processadas: int
    progresso: float = Field(description="percentage of rows read, 0 to 100")
    linhas_vazias: int
    linhas_duplicadas: int
    leads_criados: int
    leads_atualizados: int
    telefones_criados: int
    emails_criados: int
    erros: list[RowError] = Field(description="row errors (first 500) and, on failure, why")
    erros_total: int
    erro: str | None = Field(description="why the job failed, when status is erro")
    tentativas: int
    criado_em: datetime
    iniciado_em: datetime | None
    concluido_em: datetime | None


class IngestJobPage(BaseModel):
    items: list[IngestJobPublic]
    total: int
    limit: int
    offset: int


class LeadEmailPublic(BaseModel):
    email_id: int
    email: str
    email_principal: bool
    valido_para_disparo: bool
    consentimento: Consent
    consentimento_origem: str | None
    consentimento_em: datetime | None


class LeadTelefonePublic(BaseModel):
    telefone_id: int
    telefone: str = Field(description="E.164")
    telefone_principal: bool
    tipo: Literal["mobile", "landline", "other"]
    tipo_origem: str | None
    valido_para_disparo: bool


class LeadSummary(BaseModel):
    lead_id: int
    lead_id_externo: str
    nome: str | None
    contato_nome: str | None
    documento: str | None
    documento_tipo: str | None
    status: str
    tags: list[str]
    email_principal: str | None
    telefone_principal: str | None
    data_ingestao: datetime


class LeadPage(BaseModel):
    items: list[LeadSummary]
    total: int
    limit: int
    offset: int


class LeadMessage(BaseModel):
    """An outbound e-mail addressed to one of the lead's addresses."""

    id: int
    status: str
    to_email: str
    subject: str
    message_id: str
    created_at: datetime
    sent_at: datetime | None


class LeadDetail(LeadSummary):
    origem_arquivo: str | None
    origem_aba: str | None
    linha_planilha: int | None
    documento_valido: bool | None
    documento_raw: str | None
    email_raw: str | None
    telefone_raw: str | None
    data_ultimo_evento: datetime | None
    updated_at: datetime
    emails: list[LeadEmailPublic]
    telefones: list[LeadTelefonePublic]
    mensagens: list[LeadMessage] = Field(description="the 50 newest e-mails sent to the lead")


class LeadUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: LeadStatus | None = None
    tags: list[str] | None = Field(None, max_length=MAX_TAGS)


class ConsentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consentimento: Consent
    origem: str | None = Field(
        None, max_length=255, description="where consent was given or withdrawn (form, call…)"
    )


def job_public(job: Any) -> IngestJobPublic:
    total = job.linhas_total
    if job.status == "concluido":
        percent = 100.0
    elif total:
        percent = round(min(100.0, 100.0 * job.linhas_processadas / total), 1)
    else:
        percent = 0.0
    return IngestJobPublic(
        job_id=job.job_id,
        status=job.status,
        arquivo_origem=job.arquivo_origem,
        formato=job.formato,
        aba=job.aba,
        linhas_total=total,
        linhas_processadas=job.linhas_processadas,
        progresso=percent,
        linhas_vazias=job.linhas_vazias,
        linhas_duplicadas=job.linhas_duplicadas,
        leads_criados=job.leads_criados,
        leads_atualizados=job.leads_atualizados,
        telefones_criados=job.telefones_criados,
        emails_criados=job.emails_criados,
        erros=[RowError(**e) for e in job.erros or []],
        erros_total=job.erros_total,
        erro=job.mensagem_erro,
        tentativas=job.tentativas,
        criado_em=job.created_at,
        iniciado_em=job.iniciado_em,
        concluido_em=job.concluido_em,
    )


Reason = Literal["hard_bounce", "complaint", "unsubscribe", "manual"]


REASONS: tuple[str, ...] = ("hard_bounce", "complaint", "unsubscribe", "manual")


class SuppressionCreate(BaseModel):
    """Exactly one of `email` or `domain` (checked by the service, which names the field)."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, max_length=320, description="one address")
    domain: str | None = Field(None, max_length=253, description="every address of a domain")
    reason: Reason = "manual"


class SuppressionPublic(BaseModel):
    id: int
    email: str | None
    domain: str | None
    reason: Reason
    source: str
    created_at: datetime


class SuppressionPage(BaseModel):
    items: list[SuppressionPublic]
    total: int
    limit: int
    offset: int
