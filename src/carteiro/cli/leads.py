"""`carteiro import leads FILE`: a spreadsheet import run in this process, with a progress bar."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carteiro.cli.common import TENANT_HELP, err, fail, local_principal, open_runtime, out
from carteiro.db import leases
from carteiro.leads import jobs, worker
from carteiro.leads.headers import FIELDS
from carteiro.leads.importer import Progress as ImportProgress
from carteiro.leads.schemas import IngestJobPublic, job_public

app = typer.Typer(help="Import data into Carteiro.", no_args_is_help=True)


def parse_mapping(pairs: list[str]) -> dict[str, str | list[str]] | None:
    """--map nome="Razão Social" --map email=E-mail --map email="E-mail 2" → a mapping."""
    mapping: dict[str, str | list[str]] = {}
    for pair in pairs:
        field, sep, header = pair.partition("=")
        field = field.strip()
        if not sep or field not in FIELDS:
            fail(f"--map: expected FIELD=HEADER with FIELD one of {', '.join(FIELDS)}: {pair!r}")
        if field in mapping:
            previous = mapping[field]
            mapping[field] = [*(previous if isinstance(previous, list) else [previous]), header]
        else:
            mapping[field] = header
    return mapping or None


def _summary(job: IngestJobPublic, seconds: float) -> Table:
    table = Table(title=f"Import of {job.arquivo_origem}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("status", job.status),
        ("sheet", job.aba or "-"),
        ("rows read", f"{job.linhas_processadas:,}"),
        ("blank rows", f"{job.linhas_vazias:,}"),
        ("duplicated rows", f"{job.linhas_duplicadas:,}"),
        ("leads created", f"{job.leads_criados:,}"),
        ("leads updated", f"{job.leads_atualizados:,}"),
        ("phones created", f"{job.telefones_criados:,}"),
        ("e-mails created", f"{job.emails_criados:,}"),
        ("row errors", f"{job.erros_total:,}"),
        ("time", f"{seconds:.1f} s ({job.linhas_processadas / max(seconds, 1e-9):,.0f} rows/s)"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _errors(job: IngestJobPublic, limit: int) -> Table:
    table = Table(title=f"First {min(limit, len(job.erros))} of {job.erros_total:,} row errors")
    for column in ("row", "column", "value", "reason"):
        table.add_column(column)
    for e in job.erros[:limit]:
        table.add_row(str(e.linha or ""), e.coluna or "", e.valor or "", e.motivo)
    return table


@app.command("leads")
def import_leads(
    file: Path = typer.Argument(..., help="The spreadsheet: .xlsx, .xlsm, .xls, .ods or .csv."),
    sheet: str | None = typer.Option(None, "--sheet", help="Sheet name (default: Leads)."),
    map_: list[str] = typer.Option(
        [],
        "--map",
        metavar="FIELD=HEADER",
        help="Use this column for a field, e.g. --map nome='Razão Social' (repeatable; fields: "
        + ", ".join(FIELDS)
        + ").",
    ),
    show_errors: int = typer.Option(10, "--errors", min=0, help="Row errors to print."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Import leads from a spreadsheet now, in this process, and print a summary."""
    if not file.is_file():
        fail(f"file not found: {file}")
    mapping = parse_mapping(map_)
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        worker_id = f"cli:{leases.worker_id()}"[:64]
        lease = runtime.settings.lease_seconds
        with runtime.db.session() as session:
            created = jobs.create(
                session,
                principal=principal,
                filename=file.name,
                path=file.resolve(),
                sheet=sheet,
                mapping=mapping,
                claimed_by=worker_id,
                lease_seconds=lease,
            )
            claim = jobs.claimed(created)
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        task = bar.add_task("reading", total=None)

        def on_progress(p: ImportProgress) -> None:
            done = p.linhas_processadas
            merging = p.linhas_total is not None and done >= p.linhas_total
            bar.update(
                task,
                completed=done,
                total=p.linhas_total,
                description="saving" if merging else "reading",
            )

        started = time.monotonic()
        try:
            with bar:
                worker.run_job(
                    runtime.db,
                    claim,
                    worker_id=worker_id,
                    lease_seconds=lease,
                    on_progress=on_progress,
                )
        except KeyboardInterrupt:
            worker.abandon(
                runtime.db, claim, worker_id=worker_id, message="interrupted by the user"
            )
            fail("interrupted: nothing was imported")
        seconds = time.monotonic() - started
        with runtime.db.session() as session:
            job = job_public(
                jobs.get_or_raise(session, tenant_id=principal.tenant_id, job_id=claim.job_id)
            )
    out.print(_summary(job, seconds))
    if job.erros_total and job.status == "concluido" and show_errors:
        out.print(_errors(job, show_errors))
    if job.status != "concluido":
        fail(f"import failed (job {job.job_id}): {job.erro or 'see the job for details'}")
    out.print(f"job {job.job_id}: {job.leads_criados:,} leads created", markup=False)
