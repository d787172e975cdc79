"""Set-based merge of a job's staged rows into leads, lead_emails and lead_telefones."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, exists, false, func, literal, select, true
from sqlalchemy.orm import Session

from carteiro.db import upsert
from carteiro.db.results import dml
from carteiro.db.types import BigIntPK, UTCDateTime, utcnow
from carteiro.leads.models import (
    IngestStageContact,
    IngestStageLead,
    Lead,
    LeadEmail,
    LeadTelefone,
)

# Columns a re-import overwrites; status, tags, consent and dates of first sight are kept.
SHEET_COLUMNS = (
    "linha_planilha",
    "nome",
    "contato_nome",
    "documento",
    "documento_tipo",
    "documento_valido",
    "documento_raw",
    "email_raw",
    "telefone_raw",
)


# INSERT … SELECT row counts are only reported when asked for.
_ROWCOUNT = {"preserve_rowcount": True}


@dataclass(frozen=True)
class MergeCounts:
    leads_criados: int
    leads_atualizados: int
    emails_criados: int
    telefones_criados: int


def _merge_leads(
    session: Session, *, job_id: int, tenant_id: int, arquivo: str, aba: str | None
) -> int:
    now = utcnow()
    columns = [
        "tenant_id",
        "lead_id_externo",
        "origem_arquivo",
        "origem_aba",
        "ingest_job_id",
        "data_ingestao",
        "updated_at",
        *SHEET_COLUMNS,
    ]
    source = (
        select(
            literal(tenant_id, BigIntPK),
            IngestStageLead.lead_id_externo,
            literal(arquivo[:255]),
            literal(aba[:255] if aba else None),
            literal(job_id, BigIntPK),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
            *(getattr(IngestStageLead, c) for c in SHEET_COLUMNS),
        )
        .where(IngestStageLead.job_id == job_id)
        .order_by(IngestStageLead.seq)
    )
    stmt = upsert.insert(session, Lead).from_select(columns, source)
    keep = {"origem_arquivo", "origem_aba", "ingest_job_id", "updated_at", *SHEET_COLUMNS}
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "lead_id_externo"],
        set_={c: stmt.excluded[c] for c in keep},
    )
    return dml(session, stmt, execution_options=_ROWCOUNT).rowcount


def _count_new(session: Session, *, job_id: int, tenant_id: int) -> int:
    known = exists().where(
        Lead.tenant_id == tenant_id, Lead.lead_id_externo == IngestStageLead.lead_id_externo
    )
    stmt = (
        select(func.count())
        .select_from(IngestStageLead)
        .where(IngestStageLead.job_id == job_id, ~known)
    )
    return session.scalar(stmt) or 0


def _contacts(session: Session, *, job_id: int, tenant_id: int, kind: str) -> int:
    """Adds the staged contacts of one kind; returns how many were new.

    The first contact of a lead in sheet order becomes its main one, unless the lead already
    has one (a lead with contacts always has exactly one main contact of each kind).
    """
    target: type[LeadEmail] | type[LeadTelefone]
    if kind == "e":
        target, value_column, flag = LeadEmail, "email", LeadEmail.email_principal
    else:
        target, value_column, flag = LeadTelefone, "telefone", LeadTelefone.telefone_principal
    extra_columns = [] if kind == "e" else ["tipo", "tipo_origem"]
    extra_values = [] if kind == "e" else [IngestStageContact.tipo, IngestStageContact.tipo_origem]
    first = func.row_number().over(
        partition_by=Lead.lead_id, order_by=(IngestStageContact.seq, IngestStageContact.pos)
    )
    has_main = exists().where(target.lead_id == Lead.lead_id, flag.is_(True))
    source = (
        select(
            Lead.lead_id,
            literal(tenant_id, BigIntPK),
            IngestStageContact.valor,
            case((and_(first == 1, ~has_main), true()), else_=false()),
            true(),
            literal(utcnow(), UTCDateTime()),
            *extra_values,
        )
        .select_from(IngestStageContact)
        .join(
            Lead,
            and_(
                Lead.tenant_id == tenant_id,
                Lead.lead_id_externo == IngestStageContact.lead_id_externo,
            ),
        )
        .where(IngestStageContact.job_id == job_id, IngestStageContact.kind == kind)
        .order_by(IngestStageContact.seq, IngestStageContact.pos)
    )
    columns = [
        "lead_id",
        "tenant_id",
        value_column,
        flag.key,
        "valido_para_disparo",
        "created_at",
        *extra_columns,
    ]
    stmt = (
        upsert.insert(session, target)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["lead_id", value_column])
    )
    return dml(session, stmt, execution_options=_ROWCOUNT).rowcount


def merge(
    session: Session, *, job_id: int, tenant_id: int, arquivo: str, aba: str | None
) -> MergeCounts:
    """Upserts the staged leads (by tenant and lead_id_externo) and adds their new contacts."""
    new = _count_new(session, job_id=job_id, tenant_id=tenant_id)
    written = _merge_leads(session, job_id=job_id, tenant_id=tenant_id, arquivo=arquivo, aba=aba)
    emails = _contacts(session, job_id=job_id, tenant_id=tenant_id, kind="e")
    phones = _contacts(session, job_id=job_id, tenant_id=tenant_id, kind="t")
    return MergeCounts(
        leads_criados=new,
        leads_atualizados=max(0, written - new),
        emails_criados=emails,
        telefones_criados=phones,
    )
