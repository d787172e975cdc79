"""`carteiro responder`: the AI responder's numbers, its jobs, and requeueing them."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from carteiro.cli.common import TENANT_HELP, fail, open_runtime, out, tenant_id_for
from carteiro.responder import service

app = typer.Typer(help="AI replies to incoming mail: jobs, errors, requeue.", no_args_is_help=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


@app.command("stats")
def stats(tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP)) -> None:
    """Jobs by status with average time, the last 24 h per hour, errors by type, percentiles."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            numbers = service.stats(session, tenant_id=tenant_id)
    table = Table("status", "jobs", "average time")
    for s in numbers.statuses:
        table.add_row(s.status, str(s.count), _ms(s.avg_processing_time_ms))
    out.print(table)
    p = numbers.processing_time
    out.print(
        f"completed in {numbers.window_hours} h: {p.count}; p50 {_ms(p.p50_ms)}, "
        f"p95 {_ms(p.p95_ms)}, p99 {_ms(p.p99_ms)}"
    )
    for h in numbers.per_hour:
        out.print(f"{h.hour:%Y-%m-%d %H:00}  {h.processed} processed, {h.completed} completed")
    for e in numbers.errors:
        out.print(f"error {escape(e.error_type)}: {e.count}")


@app.command("jobs")
def jobs(
    status: str | None = typer.Option(None, "--status", help="pending, processing, …"),
    error_type: str | None = typer.Option(None, "--error-type", help="e.g. rate_limit"),
    limit: int = typer.Option(20, "--limit", min=1, max=service.MAX_PAGE),
    offset: int = typer.Option(0, "--offset", min=0),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Responder jobs, newest first."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            page = service.list_(
                session,
                tenant_id=tenant_id,
                status=status,
                error_type=error_type,
                limit=limit,
                offset=offset,
            )
    table = Table("job", "message", "mode", "status", "attempts", "error", "time", "email")
    for j in page.items:
        table.add_row(
            str(j.id),
            str(j.message_id),
            j.mode,
            j.status,
            str(j.attempt_count),
            escape(j.error_type or ""),
            _ms(j.processing_time_ms),
            str(j.email_id or ""),
        )
    out.print(table)
    out.print(f"[dim]{len(page.items)} of {page.total} jobs[/dim]")


@app.command("requeue")
def requeue(
    job_id: int | None = typer.Argument(None, help="A failed or dead_letter job's id."),
    error_type: str | None = typer.Option(
        None, "--error-type", help="Requeue every failed and dead job with this error type."
    ),
    keep_attempts: bool = typer.Option(
        False, "--keep-attempts", help="Keep the attempt count instead of starting again."
    ),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Put failed or dead-letter jobs back in the queue, by id or by error type."""
    if (job_id is None) == (error_type is None):
        fail("give a job id or --error-type (one of them)")
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            if job_id is not None:
                service.requeue_one(
                    session, tenant_id=tenant_id, job_id=job_id, reset_attempts=not keep_attempts
                )
                ids = [job_id]
            else:
                assert error_type is not None
                ids = service.requeue_by_error_type(
                    session,
                    tenant_id=tenant_id,
                    error_type=error_type,
                    reset_attempts=not keep_attempts,
                )
    out.print(f"requeued {len(ids)} job(s)" + (f": {', '.join(map(str, ids))}" if ids else ""))
