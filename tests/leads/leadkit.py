"""Helpers for the lead tests: workbooks built with openpyxl, running jobs, counting rows."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import Any

import openpyxl
from sqlalchemy import func, select

from carteiro.leads import jobs, worker
from carteiro.leads.models import (
    IngestJob,
    IngestStageContact,
    IngestStageLead,
    IngestUpload,
    Lead,
    LeadEmail,
    LeadTelefone,
)
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

HEADER = ["Razão Social", "Responsável", "CNPJ", "E-mail(s)", "Telefone", "WhatsApp"]


def xlsx(
    rows: Sequence[Sequence[Any]],
    *,
    sheet: str = "Leads",
    title: str | None = None,
    merge: str | None = None,
    extra_sheets: Sequence[str] = (),
) -> bytes:
    """A workbook whose sheet holds an optional (merged) title row, then `rows` as given."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet
    for name in extra_sheets:
        book.create_sheet(name)
    if title is not None:
        ws.append([title])
        if merge:
            ws.merge_cells(merge)
        ws.append([])
    for row in rows:
        ws.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def create_job(runtime: Runtime, principal: Principal, content: bytes, **options: Any) -> int:
    options.setdefault("filename", "leads.xlsx")
    with runtime.db.session() as session:
        return jobs.create(session, principal=principal, content=content, **options).job_id


def run(runtime: Runtime) -> int:
    return worker.run_pending_jobs(runtime, worker_id="test-worker")


def job_of(runtime: Runtime, principal: Principal, job_id: int) -> IngestJob:
    with runtime.db.session() as session:
        return jobs.get_or_raise(session, tenant_id=principal.tenant_id, job_id=job_id)


def import_bytes(
    runtime: Runtime, principal: Principal, content: bytes, **options: Any
) -> IngestJob:
    """Creates a job, lets a worker run it and returns the finished job row."""
    job_id = create_job(runtime, principal, content, **options)
    assert run(runtime) >= 1
    return job_of(runtime, principal, job_id)


def counts(runtime: Runtime, tenant_id: int | None = None) -> dict[str, int]:
    """Rows in every lead table (optionally one tenant's), staging and uploads included."""
    with runtime.db.session() as session:

        def n(model: Any, where: Any = None) -> int:
            stmt = select(func.count()).select_from(model)
            if where is not None:
                stmt = stmt.where(where)
            return session.scalar(stmt) or 0

        def scoped(model: Any) -> int:
            return n(model, model.tenant_id == tenant_id if tenant_id is not None else None)

        return {
            "leads": scoped(Lead),
            "emails": scoped(LeadEmail),
            "phones": scoped(LeadTelefone),
            "staged_leads": n(IngestStageLead),
            "staged_contacts": n(IngestStageContact),
            "uploads": n(IngestUpload),
        }


def with_cell_text(content: bytes, marker: str, text: str) -> bytes:
    """The workbook with the cell text `marker` replaced by `text` (openpyxl itself refuses to
    write more than Excel's 32,767 characters, so oversized cells are made this way)."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename in ("xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"):
                data = data.replace(marker.encode(), text.encode())
            target.writestr(item, data)
    return out.getvalue()


MESSY_HEADER = [
    "RAZÃO SOCIAL",
    "responsável",
    "Cnpj",
    "E-MAIL(S)",
    "Telefone",
    "whatsapp",
    "Cidade",
]
ACME = [
    "Acme Ltda",
    "Ana Souza",
    623904000173,  # CNPJ 00.623.904/0001-73 stored as a number: leading zeros lost
    "ANA@ACME.COM; vendas@acme.com.br",
    5.511987654321e12,
    "(11) 3333-4444",
    "São Paulo",
]
MESSY_ROWS = [
    MESSY_HEADER,
    ACME,  # row 4
    ACME,  # row 5: duplicated
    [],  # row 6: blank
    ["Beta SA", None, "11.222.333/0001-82", "fulano@", "98765-4321", None, "Rio"],  # row 7
    [
        "Gama",
        "José",
        "529.982.247-25",
        "x@gama.com / y@gama.com",
        11987654321.0,
        "21 2555-1234 ou (21) 99999-0000",
        None,
    ],  # row 8
    [None, None, None, None, None, None, "Curitiba"],  # row 9: nothing mapped
    ["  Delta   Comércio  ", None, None, "-", "n/a", None, None],  # row 10
]


def messy() -> bytes:
    return xlsx(MESSY_ROWS, title="Leads Organizados", merge="A1:G1")
