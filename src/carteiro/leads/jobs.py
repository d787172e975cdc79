"""Durable ingest jobs: create (the upload kept in the database), find, claim with a lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from carteiro.config import Settings
from carteiro.db.claims import claim_rows
from carteiro.db.types import utcnow
from carteiro.errors import InvalidInput, NotFound, TooLarge
from carteiro.leads.headers import validate_mapping
from carteiro.leads.models import IngestJob, IngestUpload
from carteiro.tenancy.service import Principal

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# A job whose worker vanished this many times (crash, out of memory) is failed, not retried.
MAX_ATTEMPTS = 3
MAX_PAGE = 500
MAX_SHEET_NAME = 255
DB_STORAGE = "db"
FILE_STORAGE = "file:"


@dataclass(frozen=True)
class Claimed:
    job_id: int
    tenant_id: int
    arquivo_origem: str
    armazenamento: str
    aba: str | None
    mapeamento: dict[str, Any] | None
    tentativas: int


def uploads_dir(settings: Settings, *, tenant_id: int) -> Path:
    """The tenant's own uploads folder, DATA_DIR/uploads/<tenant id>: no tenant can name
    another's files."""
    return settings.data_dir / "uploads" / str(int(tenant_id))


def resolve_path(settings: Settings, raw: str, *, tenant_id: int) -> Path:
    """A server-side file the API may import: only inside the tenant's uploads folder."""
    base = uploads_dir(settings, tenant_id=tenant_id).resolve()
    path = Path(raw).expanduser()
    # resolve() follows symbolic links, so a link out of the folder is refused too.
    path = (path if path.is_absolute() else base / path).resolve()
    if path != base and base not in path.parents:
        raise InvalidInput(
            "path must name a file inside the server's uploads folder for this tenant "
            f"(DATA_DIR/uploads/{int(tenant_id)}); upload the file instead, or copy it there",
            field="path",
        )
    if not path.is_file():
        raise InvalidInput(f"no such file in the uploads folder: {raw}", field="path")
    return path


def create(
    session: Session,
    *,
    principal: Principal,
    filename: str,
    content: bytes | None = None,
    path: Path | None = None,
    sheet: str | None = None,
    mapping: dict[str, Any] | None = None,
    claimed_by: str | None = None,
    lease_seconds: float = 60.0,
) -> IngestJob:
    """Queues an import of uploaded `content` (stored in the database) or of a local `path`.

    With `claimed_by` the job starts already leased to that worker (the CLI runs it itself).
    """
    validate_mapping(mapping)
    if sheet is not None and not 0 < len(sheet) <= MAX_SHEET_NAME:
        raise InvalidInput(f"sheet must be 1 to {MAX_SHEET_NAME} characters", field="sheet")
    if (content is None) == (path is None):
        raise InvalidInput("send a file or a path", field="file")
    if content is not None:
        if not content:
            raise InvalidInput("the file is empty", field="file")
        if len(content) > MAX_UPLOAD_BYTES:
            raise TooLarge(
                f"the file is {len(content):,} bytes; uploads are limited to "
                f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB",
                field="file",
            )
    now = utcnow()
    job = IngestJob(
        tenant_id=principal.tenant_id,
        api_key_id=principal.key_id,
        arquivo_origem=(filename or "upload")[:255],
        armazenamento=DB_STORAGE if content is not None else FILE_STORAGE + str(path),
        tamanho=len(content) if content is not None else None,
        aba=sheet,
        mapeamento=mapping or None,
        status="processando" if claimed_by else "pendente",
        lease_owner=claimed_by,
        lease_until=now + timedelta(seconds=lease_seconds) if claimed_by else None,
        tentativas=1 if claimed_by else 0,
        iniciado_em=now if claimed_by else None,
        erros=[],
        created_at=now,
    )
    session.add(job)
    session.flush()
    if content is not None:
        session.add(IngestUpload(job_id=job.job_id, conteudo=content))
        session.flush()
    return job


def claimed(job: IngestJob) -> Claimed:
    """The claim of a job created already leased (`create(..., claimed_by=...)`)."""
    return Claimed(
        job_id=job.job_id,
        tenant_id=job.tenant_id,
        arquivo_origem=job.arquivo_origem,
        armazenamento=job.armazenamento,
        aba=job.aba,
        mapeamento=job.mapeamento,
        tentativas=job.tentativas,
    )


def get_or_raise(session: Session, *, tenant_id: int, job_id: int) -> IngestJob:
    job = session.get(IngestJob, job_id)
    if job is None or job.tenant_id != tenant_id:
        raise NotFound(f"import job {job_id} not found")
    return job


def list_(
    session: Session, *, tenant_id: int, limit: int = 50, offset: int = 0
) -> tuple[list[IngestJob], int]:
    where = IngestJob.tenant_id == tenant_id
    total = session.scalar(select(func.count()).select_from(IngestJob).where(where)) or 0
    stmt = select(IngestJob).where(where).order_by(IngestJob.job_id.desc())
    return list(session.scalars(stmt.limit(limit).offset(offset))), total


def claim(
    session: Session,
    *,
    worker_id: str,
    lease_seconds: float,
    job_id: int | None = None,
    now: datetime | None = None,
) -> Claimed | None:
    """Leases the oldest pending job (or one whose lease expired) to `worker_id`."""
    now = now or utcnow()
    claimable = or_(
        IngestJob.status == "pendente",
        and_(IngestJob.status == "processando", IngestJob.lease_until < now),
    )
    if job_id is not None:
        claimable = and_(IngestJob.job_id == job_id, claimable)
    stmt = (
        claim_rows(
            session,
            IngestJob,
            key=IngestJob.job_id,
            where=claimable,
            order_by=[IngestJob.job_id],
            limit=1,
        )
        .values(
            status="processando",
            lease_owner=worker_id,
            lease_until=now + timedelta(seconds=lease_seconds),
            tentativas=IngestJob.tentativas + 1,
            iniciado_em=func.coalesce(IngestJob.iniciado_em, now),
        )
        .returning(
            IngestJob.job_id,
            IngestJob.tenant_id,
            IngestJob.arquivo_origem,
            IngestJob.armazenamento,
            IngestJob.aba,
            IngestJob.mapeamento,
            IngestJob.tentativas,
        )
    )
    row = session.execute(stmt, execution_options={"synchronize_session": False}).first()
    return Claimed(*row) if row else None
