"""Running ingest jobs: a worker loop next to the dispatcher, fenced by the job's lease."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.orm import Session

from carteiro.db import leases
from carteiro.db.engine import Database
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, InvalidInput
from carteiro.leads import importer, metrics
from carteiro.leads.importer import ImportSpec, Interrupted, Progress
from carteiro.leads.jobs import FILE_STORAGE, MAX_ATTEMPTS, Claimed, claim
from carteiro.leads.models import IngestJob, IngestUpload
from carteiro.loops import run_every
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.leads")


class LeaseLost(Exception):
    """Another worker took the job over (our lease expired); stop without writing."""


def _fence(worker_id: str, job_id: int) -> Any:
    return and_(
        IngestJob.job_id == job_id,
        IngestJob.lease_owner == worker_id,
        IngestJob.status == "processando",
    )


def _counters(progress: Progress) -> dict[str, Any]:
    return {
        "linhas_total": progress.linhas_total,
        "linhas_processadas": progress.linhas_processadas,
        "linhas_vazias": progress.linhas_vazias,
        "linhas_duplicadas": progress.linhas_duplicadas,
        "erros": list(progress.errors.items),
        "erros_total": progress.errors.total,
        "aba": progress.aba,
        "formato": progress.formato,
    }


def _source(db: Database, job: Claimed) -> bytes | Path:
    if job.armazenamento.startswith(FILE_STORAGE):
        return Path(job.armazenamento[len(FILE_STORAGE) :])
    with db.session() as session:
        content = session.scalar(
            select(IngestUpload.conteudo).where(IngestUpload.job_id == job.job_id)
        )
    if content is None:
        raise InvalidInput("the uploaded file is no longer stored; upload it again", field="file")
    return bytes(content)


def _fail(db: Database, job: Claimed, worker_id: str, message: str, progress: Progress) -> bool:
    """Marks the job failed and drops its staged rows and upload; False if no longer ours."""
    with db.session() as session:
        errors = [{"linha": None, "coluna": None, "valor": None, "motivo": message}]
        values = {**_counters(progress), "erros": errors + list(progress.errors.items)}
        owned = dml(
            session,
            update(IngestJob)
            .where(_fence(worker_id, job.job_id))
            .values(
                **values,
                status="erro",
                mensagem_erro=message,
                lease_owner=None,
                lease_until=None,
                concluido_em=utcnow(),
            ),
        ).rowcount
        if owned:
            metrics.job_done(job.tenant_id, "erro", leads_created=0)
            importer.clear(session, job_id=job.job_id)
            session.execute(delete(IngestUpload).where(IngestUpload.job_id == job.job_id))
    return bool(owned)


def _release(db: Database, job: Claimed, worker_id: str) -> None:
    with db.session() as session:
        owned = dml(
            session,
            update(IngestJob)
            .where(_fence(worker_id, job.job_id))
            .values(
                **_counters(Progress()),
                status="pendente",
                lease_owner=None,
                lease_until=None,
                tentativas=IngestJob.tentativas - 1,
            ),
        ).rowcount
        if owned:
            metrics.job_done(job.tenant_id, "erro", leads_created=0)
            importer.clear(session, job_id=job.job_id)


def run_job(
    db: Database,
    job: Claimed,
    *,
    worker_id: str,
    lease_seconds: float,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[Progress], None] | None = None,
) -> str:
    """Runs one claimed job to its end; returns its final status (or 'pendente' if released)."""
    if job.tentativas > MAX_ATTEMPTS:
        message = (
            f"the import stopped unexpectedly {job.tentativas - 1} times (worker crash or out "
            "of memory); it will not be retried"
        )
        return "erro" if _fail(db, job, worker_id, message, Progress()) else "processando"
    spec = ImportSpec(
        job_id=job.job_id,
        tenant_id=job.tenant_id,
        filename=job.arquivo_origem,
        sheet=job.aba,
        mapping=job.mapeamento,
    )
    progress = Progress()

    def checkpoint(session: Session, p: Progress) -> None:
        until = utcnow() + timedelta(seconds=lease_seconds)
        stmt = update(IngestJob).where(_fence(worker_id, job.job_id))
        if not dml(session, stmt.values(**_counters(p), lease_until=until)).rowcount:
            raise LeaseLost

    try:
        source = _source(db, job)
        importer.stage(
            db,
            spec=spec,
            source=source,
            checkpoint=checkpoint,
            should_stop=should_stop,
            progress=progress,
            on_progress=on_progress,
        )
        with db.session() as session:
            # Taking the row first fences the merge: on PostgreSQL the lock keeps claimers away.
            checkpoint(session, progress)
            importer.finish(session, spec=spec, progress=progress)
            session.execute(
                update(IngestJob)
                .where(_fence(worker_id, job.job_id))
                .values(
                    **_counters(progress),
                    status="concluido",
                    leads_criados=progress.leads_criados,
                    leads_atualizados=progress.leads_atualizados,
                    telefones_criados=progress.telefones_criados,
                    emails_criados=progress.emails_criados,
                    lease_owner=None,
                    lease_until=None,
                    concluido_em=utcnow(),
                )
            )
            session.execute(delete(IngestUpload).where(IngestUpload.job_id == job.job_id))
        if on_progress is not None:
            on_progress(progress)
        metrics.job_done(job.tenant_id, "concluido", leads_created=progress.leads_criados)
        log.info(
            "import job %d done: %d rows, %d leads created, %d updated in %.1f s",
            job.job_id,
            progress.linhas_processadas,
            progress.leads_criados,
            progress.leads_atualizados,
            progress.elapsed,
        )
        return "concluido"
    except Interrupted:
        _release(db, job, worker_id)
        return "pendente"
    except LeaseLost:
        log.warning("import job %d: lease lost to another worker; stopping", job.job_id)
        return "processando"
    except CarteiroError as exc:
        message = exc.message
    except Exception as exc:
        log.exception("import job %d failed unexpectedly", job.job_id)
        message = f"unexpected error while importing ({type(exc).__name__}); see the server log"
    if _fail(db, job, worker_id, message, progress):
        return "erro"
    log.warning("import job %d: lease lost to another worker; not marking it failed", job.job_id)
    return "processando"


def abandon(db: Database, job: Claimed, *, worker_id: str, message: str) -> None:
    """Ends a job this worker holds as failed (e.g. the user interrupted the CLI import)."""
    _fail(db, job, worker_id, message, Progress())


def run_now(runtime: Runtime, job_id: int, *, worker_id: str) -> bool:
    """Runs one pending job in this thread if no worker has taken it; False if one has."""
    lease = runtime.settings.lease_seconds
    with runtime.db.session() as session:
        job = claim(session, worker_id=worker_id, lease_seconds=lease, job_id=job_id)
    if job is None:
        return False
    run_job(runtime.db, job, worker_id=worker_id, lease_seconds=lease)
    return True


def run_pending_jobs(
    runtime: Runtime, *, worker_id: str, stop: threading.Event | None = None
) -> int:
    """Claims and runs pending jobs one at a time until none is left; returns how many ran."""
    lease = runtime.settings.lease_seconds
    done = 0
    while stop is None or not stop.is_set():
        with runtime.db.session() as session:
            job = claim(session, worker_id=worker_id, lease_seconds=lease)
        if job is None:
            break
        run_job(
            runtime.db,
            job,
            worker_id=worker_id,
            lease_seconds=lease,
            should_stop=stop.is_set if stop is not None else lambda: False,
        )
        done += 1
    return done


async def ingest_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """Runs import jobs in a worker thread until `stop` is set (a job in progress is released)."""
    worker_id = leases.worker_id()
    halt = threading.Event()

    async def mirror() -> None:
        await stop.wait()
        halt.set()

    mirror_task = asyncio.create_task(mirror(), name="carteiro-ingest-stop")
    interval = runtime.settings.poll_interval
    log.info("ingest loop %s started", worker_id)

    async def sweep() -> bool:
        ran = await asyncio.to_thread(run_pending_jobs, runtime, worker_id=worker_id, stop=halt)
        return ran > 0

    try:
        await run_every(
            stop, interval, sweep, error="ingest loop: claiming jobs failed", logger=log
        )
    finally:
        mirror_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mirror_task
