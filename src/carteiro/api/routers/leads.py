"""Lead endpoints: spreadsheet ingestion jobs, lead list and detail, status/tags, consent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Query, Request, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from carteiro.api.deps import LeadsReadKey, LeadsWriteKey, Offset, PathId, Rt, Tx, in_transaction
from carteiro.api.errors import validation_body
from carteiro.api.router import Router
from carteiro.errors import InvalidInput, TooLarge
from carteiro.leads import consent, jobs, service
from carteiro.leads.schemas import (
    ConsentUpdate,
    IngestAccepted,
    IngestJobPage,
    IngestJobPublic,
    IngestPathRequest,
    LeadDetail,
    LeadEmailPublic,
    LeadPage,
    LeadStatus,
    LeadUpdate,
    job_public,
)
from carteiro.runtime import Runtime

router = Router(tags=["leads"])

# Multipart framing around the file; a body larger than this cannot hold an acceptable upload.
_MULTIPART_SLACK = 64 * 1024
_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "sheet": {"type": "string", "description": "sheet name; default Leads"},
                        "mapping": {
                            "type": "string",
                            "description": 'JSON object, e.g. {"nome": "Cliente"}',
                        },
                    },
                }
            },
            "application/json": {"schema": IngestPathRequest.model_json_schema()},
        },
    }
}


def _too_large() -> TooLarge:
    limit = jobs.MAX_UPLOAD_BYTES // (1024 * 1024)
    return TooLarge(f"uploads are limited to {limit} MB", field="file")


async def _read_upload(file: UploadFile) -> bytes:
    content = await file.read(jobs.MAX_UPLOAD_BYTES + 1)
    if len(content) > jobs.MAX_UPLOAD_BYTES:
        raise _too_large()
    return content


def _mapping_field(raw: object) -> dict[str, Any] | None:
    if raw in (None, ""):
        return None
    try:
        value = json.loads(str(raw))
    except ValueError:
        raise InvalidInput("mapping must be a JSON object", field="mapping") from None
    if not isinstance(value, dict):
        raise InvalidInput("mapping must be a JSON object", field="mapping")
    return value


async def _from_multipart(request: Request) -> dict[str, Any]:
    async with request.form(max_files=1, max_fields=10) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInput("send the spreadsheet in the multipart field 'file'", field="file")
        sheet = form.get("sheet")
        return {
            "filename": Path(file.filename or "upload").name,
            "content": await _read_upload(file),
            "sheet": str(sheet) if sheet else None,
            "mapping": _mapping_field(form.get("mapping")),
        }


def _from_json(raw: bytes, rt: Runtime, tenant_id: int) -> dict[str, Any]:
    try:
        data = IngestPathRequest.model_validate_json(raw)
    except ValidationError as exc:
        body = validation_body(list(exc.errors(include_url=False)))
        raise InvalidInput(body["message"], field=body["field"]) from None
    path = jobs.resolve_path(rt.settings, data.path, tenant_id=tenant_id)
    return {"filename": path.name, "path": path, "sheet": data.sheet, "mapping": data.mapping}


@router.post(
    "/ingest/leads/xlsx",
    response_model=IngestAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Import leads from a spreadsheet (xlsx, xls, ods or CSV) in the background",
    description="Send the file as multipart field `file` (optional fields `sheet`, `mapping`), "
    "or JSON `{path}` naming a file in the tenant's uploads folder "
    "(DATA_DIR/uploads/<tenant id>). Follow the job with GET /ingest/leads/jobs/{job_id}. "
    "Uploads are limited to 50 MB.",
    openapi_extra=_UPLOAD_DOC,
)
async def ingest_leads(request: Request, principal: LeadsWriteKey, rt: Rt) -> IngestAccepted:
    # Async: the upload is read from the request stream; the database work goes to a thread.
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > jobs.MAX_UPLOAD_BYTES + _MULTIPART_SLACK:
            raise _too_large()
        args = await _from_multipart(request)
    elif content_type.startswith("application/json"):
        args = await run_in_threadpool(_from_json, await request.body(), rt, principal.tenant_id)
    else:
        raise InvalidInput(
            "send multipart/form-data with the file in field 'file', or JSON {\"path\": …}",
            field="file",
        )
    job_id = await in_transaction(
        rt, lambda session: jobs.create(session, principal=principal, **args).job_id
    )
    return IngestAccepted(job_id=job_id)


@router.get(
    "/ingest/leads/jobs/{job_id}",
    response_model=IngestJobPublic,
    summary="An import job: status, progress, counts and row errors",
)
def get_job(job_id: PathId, principal: LeadsReadKey, session: Tx) -> IngestJobPublic:
    return job_public(jobs.get_or_raise(session, tenant_id=principal.tenant_id, job_id=job_id))


@router.get("/ingest/leads/jobs", response_model=IngestJobPage, summary="Import jobs, newest first")
def list_jobs(
    principal: LeadsReadKey,
    session: Tx,
    limit: int = Query(50, ge=1, le=jobs.MAX_PAGE),
    offset: Offset = 0,
) -> IngestJobPage:
    items, total = jobs.list_(session, tenant_id=principal.tenant_id, limit=limit, offset=offset)
    return IngestJobPage(
        items=[job_public(j) for j in items], total=total, limit=limit, offset=offset
    )


@router.get("/leads", response_model=LeadPage, summary="List leads, newest first")
def list_leads(
    principal: LeadsReadKey,
    session: Tx,
    status_: LeadStatus | None = Query(None, alias="status"),
    tag: str | None = Query(None, max_length=64),
    q: str | None = Query(
        None, max_length=200, description="text in the name, contact, document, e-mail or phone"
    ),
    has_email: bool | None = Query(None),
    has_phone: bool | None = Query(None),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
    offset: Offset = 0,
) -> LeadPage:
    leads, total = service.list_(
        session,
        tenant_id=principal.tenant_id,
        status=status_,
        tag=tag,
        q=q,
        has_email=has_email,
        has_phone=has_phone,
        limit=limit,
        offset=offset,
    )
    return service.public_page(session, leads, total=total, limit=limit, offset=offset)


@router.get(
    "/leads/{lead_id}",
    response_model=LeadDetail,
    summary="One lead with its e-mails (and consent), phones and the messages sent to it",
)
def get_lead(lead_id: PathId, principal: LeadsReadKey, session: Tx) -> LeadDetail:
    lead = service.get_or_raise(session, tenant_id=principal.tenant_id, lead_id=lead_id)
    return service.detail(session, lead)


@router.patch("/leads/{lead_id}", response_model=LeadDetail, summary="Change status and/or tags")
def update_lead(
    lead_id: PathId, data: LeadUpdate, principal: LeadsWriteKey, session: Tx
) -> LeadDetail:
    lead = service.update(session, tenant_id=principal.tenant_id, lead_id=lead_id, data=data)
    return service.detail(session, lead)


@router.put(
    "/leads/{lead_id}/emails/{email_id}/consent",
    response_model=LeadEmailPublic,
    summary="Record consent (unknown, opt_in, opt_out) for an address (LGPD)",
    description="Applies to the address on every lead of the tenant; an opt-out address is "
    "never mailed by bulk sends or dispatches.",
)
def set_consent(
    lead_id: PathId, email_id: PathId, data: ConsentUpdate, principal: LeadsWriteKey, session: Tx
) -> LeadEmailPublic:
    row = consent.set_consent(
        session,
        tenant_id=principal.tenant_id,
        lead_id=lead_id,
        email_id=email_id,
        consentimento=data.consentimento,
        origem=data.origem,
    )
    return service.email_public(row)
