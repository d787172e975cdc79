"""Spreadsheet imports: upload, the job's page with a live progress bar, past imports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carteiro.api.deps import Offset, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.leads import jobs
from carteiro.leads.models import IngestJob
from carteiro.leads.schemas import RowError, job_public
from carteiro.web import acting, domain_texts, render
from carteiro.web.deps import Operator, WebPerson
from carteiro.web.paging import PAGE_SIZE, Page, page_of

router = Router(include_in_schema=False)

STATUS_LABELS = {
    "pendente": render.N_("waiting"),
    "processando": render.N_("processing"),
    "concluido": render.N_("done"),
    "erro": render.N_("failed"),
}
# The importer's row-error reasons (English in the job), shown through `_()` on the page.
REASONS = (
    render.N_("not an e-mail address"),
    render.N_("invalid e-mail address"),
    render.N_("invalid phone number"),
    render.N_("invalid CNPJ/CPF (check digits)"),
)
FINAL = frozenset({"concluido", "erro"})
ERRORS_PAGE = 50
ACCEPT = ".xlsx,.xlsm,.xls,.ods,.csv,.tsv,.txt"


def _form_page(
    request: Request,
    session: Tx,
    rt: Rt,
    person: WebPerson,
    *,
    offset: int = 0,
    values: dict[str, str] | None = None,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    found, total = jobs.list_(session, tenant_id=person.tenant_id, limit=PAGE_SIZE, offset=offset)
    return render.page(
        request,
        "imports.html",
        {
            "section": "leads",
            "tab": "imports",
            "page": page_of(
                request, [job_public(j) for j in found], total=total, limit=PAGE_SIZE, offset=offset
            ),
            "statuses": STATUS_LABELS,
            "uploads_dir": str(jobs.uploads_dir(rt.settings, tenant_id=person.tenant_id)),
            "max_mb": jobs.MAX_UPLOAD_BYTES // (1024 * 1024),
            "accept": ACCEPT,
            "values": values or {},
            "error": error,
            "field": field,
        },
        status=status,
    )


@router.get("/ui/leads/import")
def import_form(
    request: Request, session: Tx, rt: Rt, person: Operator, offset: Offset = 0
) -> HTMLResponse:
    return _form_page(request, session, rt, person, offset=offset)


def _field_message(request: Request, exc: CarteiroError) -> str:
    if exc.field == "file" and exc.status == 413:
        return render.text(
            request,
            "The file is larger than %(mb)s MB. Split it, or copy it to the server's uploads "
            "folder and import it by name.",
            mb=jobs.MAX_UPLOAD_BYTES // (1024 * 1024),
        )
    known = {
        "file": render.N_(
            "Choose a spreadsheet (xlsx, xls, ods or CSV), or name a file in the uploads folder."
        ),
        "sheet": render.N_(
            "The sheet name has 1 to 255 characters; leave it empty for the first sheet with leads."
        ),
    }
    msgid = known.get(exc.field or "")
    if exc.field == "path":
        return domain_texts.message_of(request, exc)
    return render.text(request, msgid) if msgid else domain_texts.message_of(request, exc)


@router.post("/ui/leads/import")
def import_upload(
    request: Request,
    session: Tx,
    rt: Rt,
    person: Operator,
    file: Annotated[UploadFile | None, File()] = None,
    sheet: Annotated[str, Form(max_length=255)] = "",
    path: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    values = {"sheet": sheet, "path": path}
    try:
        source: dict[str, object]
        has_file = file is not None and bool(file.filename)
        if has_file and path.strip():
            raise InvalidInput("send a file or a path, not both", field="file")
        if has_file:
            assert file is not None
            content = file.file.read(jobs.MAX_UPLOAD_BYTES + 1)
            source = {"filename": Path(file.filename or "upload").name, "content": content}
        elif path.strip():
            # Only files inside this tenant's own uploads folder (the API's rule).
            found = jobs.resolve_path(rt.settings, path.strip(), tenant_id=person.tenant_id)
            source = {"filename": found.name, "path": found}
        else:
            raise InvalidInput("choose a file to upload", field="file")
        job = jobs.create(
            session,
            principal=acting.principal(person),
            sheet=sheet.strip() or None,
            **source,  # type: ignore[arg-type]  # filename with content or path
        )
    except CarteiroError as exc:
        return _form_page(
            request,
            session,
            rt,
            person,
            values=values,
            error=_field_message(request, exc),
            field=exc.field,
            status=exc.status,
        )
    acting.record(
        request,
        session,
        person,
        "import",
        target_type="ingest_job",
        target_id=job.job_id,
        detail={"file": job.arquivo_origem, "size": job.tamanho},
    )
    return RedirectResponse(f"/ui/leads/import/{job.job_id}", status_code=303)


def _errors_page(job_id: int, errors: list[RowError], offset: int) -> Page[RowError]:
    """A page of the row errors; its links lead to the job's page (also from the fragment)."""
    base = f"/ui/leads/import/{job_id}"

    def url(at: int) -> str:
        return f"{base}?offset={at}" if at else base

    total = len(errors)
    return Page(
        items=errors[offset : offset + ERRORS_PAGE],
        total=total,
        limit=ERRORS_PAGE,
        offset=offset,
        prev_url=url(max(0, offset - ERRORS_PAGE)) if offset > 0 else None,
        next_url=url(offset + ERRORS_PAGE) if offset + ERRORS_PAGE < total else None,
    )


def _job_context(job: IngestJob, offset: int) -> dict[str, object]:
    public = job_public(job)
    return {
        "section": "leads",
        "tab": "imports",
        "job": public,
        "done": job.status in FINAL,
        "statuses": STATUS_LABELS,
        "errors": _errors_page(public.job_id, public.erros, offset),
    }


@router.get("/ui/leads/import/{job_id}")
def import_job(
    request: Request, session: Tx, person: Operator, job_id: PathId, offset: Offset = 0
) -> HTMLResponse:
    job = jobs.get_or_raise(session, tenant_id=person.tenant_id, job_id=job_id)
    return render.page(request, "import_job.html", _job_context(job, offset))


@router.get("/ui/leads/import/{job_id}/frag/progress")
def import_progress(
    request: Request, session: Tx, person: Operator, job_id: PathId
) -> HTMLResponse:
    """The progress block, polled by the job page until the job is final."""
    job = jobs.get_or_raise(session, tenant_id=person.tenant_id, job_id=job_id)
    return render.fragment(request, "import_job.html", "progress", _job_context(job, 0))
