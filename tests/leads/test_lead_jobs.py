"""The durable job machinery: leases, recovery after a crash, interruption, the async loop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from leadkit import counts, create_job, job_of, run, xlsx
from sqlalchemy import update

from carteiro.db.types import utcnow
from carteiro.leads import jobs, worker
from carteiro.leads.models import IngestJob
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal


def rows(n: int) -> bytes:
    return xlsx([["Nome", "Telefone"], *[[f"Lead {i}", f"1198765{i:04d}"] for i in range(n)]])


def claim(runtime: Runtime, worker: str, **kwargs: object) -> jobs.Claimed | None:
    with runtime.db.session() as session:
        return jobs.claim(session, worker_id=worker, lease_seconds=30, **kwargs)  # type: ignore[arg-type]


def test_a_leased_job_is_not_claimed_twice(runtime: Runtime, principal: Principal) -> None:
    first = create_job(runtime, principal, rows(3))
    second = create_job(runtime, principal, rows(3))

    a = claim(runtime, "worker-a")
    b = claim(runtime, "worker-b")
    c = claim(runtime, "worker-c")

    assert a is not None and b is not None
    assert (a.job_id, b.job_id) == (first, second)
    assert c is None


def test_a_crashed_workers_job_is_recovered_after_its_lease(
    runtime: Runtime, principal: Principal
) -> None:
    job_id = create_job(runtime, principal, rows(5))
    crashed = claim(runtime, "crashed")
    assert crashed is not None and claim(runtime, "other") is None

    later = utcnow() + timedelta(seconds=31)
    with runtime.db.session() as session:
        again = jobs.claim(session, worker_id="rescuer", lease_seconds=30, now=later)
    assert again is not None and again.job_id == job_id and again.tentativas == 2

    status = worker.run_job(runtime.db, again, worker_id="rescuer", lease_seconds=30)
    assert status == "concluido"
    # The crashed worker coming back cannot write anything: its lease is gone.
    assert worker.run_job(runtime.db, crashed, worker_id="crashed", lease_seconds=30) == (
        "processando"
    )
    job = job_of(runtime, principal, job_id)
    assert (job.status, job.leads_criados, job.tentativas) == ("concluido", 5, 2)
    assert counts(runtime)["leads"] == 5


def test_a_job_that_keeps_crashing_its_worker_is_failed(
    runtime: Runtime, principal: Principal
) -> None:
    job_id = create_job(runtime, principal, rows(2))
    with runtime.db.session() as session:
        session.execute(
            update(IngestJob)
            .where(IngestJob.job_id == job_id)
            .values(
                status="processando",
                tentativas=jobs.MAX_ATTEMPTS,
                lease_owner="dead",
                lease_until=utcnow() - timedelta(seconds=1),
            )
        )
    assert run(runtime) == 1
    job = job_of(runtime, principal, job_id)
    assert job.status == "erro"
    assert "stopped unexpectedly 3 times" in (job.mensagem_erro or "")
    assert counts(runtime)["leads"] == 0


def test_a_stopping_worker_gives_the_job_back(runtime: Runtime, principal: Principal) -> None:
    job_id = create_job(runtime, principal, rows(4500))
    claimed = claim(runtime, "stopping")
    assert claimed is not None
    chunks = []

    def stop_after_first_chunk() -> bool:
        chunks.append(1)
        return len(chunks) > 1

    status = worker.run_job(
        runtime.db,
        claimed,
        worker_id="stopping",
        lease_seconds=30,
        should_stop=stop_after_first_chunk,
    )

    assert status == "pendente"
    job = job_of(runtime, principal, job_id)
    assert (job.status, job.tentativas, job.lease_owner, job.linhas_processadas) == (
        "pendente",
        0,
        None,
        0,
    )
    assert counts(runtime)["staged_leads"] == 0 and counts(runtime)["leads"] == 0
    assert run(runtime) == 1
    assert job_of(runtime, principal, job_id).leads_criados == 4500


def test_progress_is_visible_while_the_job_runs(runtime: Runtime, principal: Principal) -> None:
    job_id = create_job(runtime, principal, rows(4500))
    claimed = claim(runtime, "w")
    assert claimed is not None
    seen: list[tuple[str, int, int | None]] = []

    def look(_: object) -> None:
        # Read through another connection, as GET /ingest/leads/jobs/{id} would.
        job = job_of(runtime, principal, job_id)
        seen.append((job.status, job.linhas_processadas, job.linhas_total))

    worker.run_job(runtime.db, claimed, worker_id="w", lease_seconds=30, on_progress=look)
    assert ("processando", 2000, 4500) in seen
    assert ("processando", 4000, 4500) in seen
    assert seen[-1][0] == "concluido"


async def test_ingest_loop_runs_jobs_until_stopped(runtime: Runtime, principal: Principal) -> None:
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.ingest_loop(runtime, stop))
    job_id = await asyncio.to_thread(create_job, runtime, principal, rows(10))
    for _ in range(400):
        job = await asyncio.to_thread(job_of, runtime, principal, job_id)
        if job.status in ("concluido", "erro"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, timeout=30)
    assert job.status == "concluido" and job.leads_criados == 10
