"""`carteiro campaigns`: create from JSON, lint, schedule, pause, resume, cancel, stats, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from carteiro.campaigns import catalog, service
from carteiro.campaigns import stats as campaign_stats
from carteiro.campaigns.schemas import CampaignCreate, CampaignPublic, SegmentPreviewIn
from carteiro.cli.common import TENANT_HELP, fail, local_principal, open_runtime, out

app = typer.Typer(
    help="Campaigns: create, check, schedule, follow and stop them.", no_args_is_help=True
)
TenantOpt = typer.Option(None, "--tenant", help=TENANT_HELP)
Status = Literal["pending", "queued", "sent", "failed", "skipped", "cancelled"]


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except ValueError as exc:
        fail(f"{path} is not JSON: {exc}")


def _show(c: CampaignPublic) -> None:
    reason = f" ({c.status_reason})" if c.status_reason else ""
    out.print(f"campaign {c.id} '{c.name}': {c.status}{reason}", markup=False)


@app.command("create")
def create(
    file: Path = typer.Argument(..., help="JSON as for POST /campaigns (see README)."),
    tenant: str | None = TenantOpt,
) -> None:
    """Create a draft from a JSON file."""
    try:
        data = CampaignCreate.model_validate(_json(file))
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            _show(service.public(session, service.create(session, principal=principal, data=data)))


@app.command("list")
def list_campaigns(
    status: str | None = typer.Option(None, "--status"),
    limit: int = typer.Option(50, "--limit", min=1, max=service.MAX_PAGE),
    tenant: str | None = TenantOpt,
) -> None:
    """Campaigns, newest first."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            page = service.list_(session, principal=principal, status=status, limit=limit, offset=0)
    if not page.items:
        out.print("no campaigns")
        return
    table = Table(title=f"Campaigns ({page.total})")
    for column in ("id", "name", "status", "audience", "sent", "failed", "clicks"):
        table.add_column(column)
    for c in page.items:
        table.add_row(
            str(c.id),
            escape(c.name),
            c.status,
            str(c.counts.audience_total),
            str(c.counts.sent),
            str(c.counts.failed),
            str(c.counts.clicked_unique),
        )
    out.print(table)


@app.command("lint")
def lint(campaign_id: int, tenant: str | None = TenantOpt) -> None:
    """The pre-flight check; exits 1 when something blocks scheduling."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            report = service.run_lint(
                session, principal=principal, campaign_id=campaign_id, settings=runtime.settings
            )
    for issue in report.errors:
        out.print(f"error {issue.code}: {issue.message}", markup=False)
    for issue in report.warnings:
        out.print(f"warning {issue.code}: {issue.message}", markup=False)
    eta = f", about {report.eta_hours} h" if report.eta_hours is not None else ""
    out.print(f"audience {report.audience}{eta}: {'ok' if report.ok else 'blocked'}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("schedule")
def schedule(
    campaign_id: int,
    now: bool = typer.Option(False, "--now", help="Start now instead of at its send_at."),
    override_dns: bool = typer.Option(
        False, "--override-dns", help="Send although DKIM/DMARC are not aligned."
    ),
    tenant: str | None = TenantOpt,
) -> None:
    """Lint and schedule a draft."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            c = service.schedule(
                session,
                principal=principal,
                campaign_id=campaign_id,
                settings=runtime.settings,
                override_dns=override_dns,
                start_now=now,
            )
            _show(service.public(session, c))


def _action(verb: str, campaign_id: int, tenant: str | None) -> None:
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            c = getattr(service, verb)(session, principal=principal, campaign_id=campaign_id)
            _show(service.public(session, c))


@app.command("pause")
def pause(campaign_id: int, tenant: str | None = TenantOpt) -> None:
    """Pause; queued messages not yet sending are held."""
    _action("pause", campaign_id, tenant)


@app.command("resume")
def resume(campaign_id: int, tenant: str | None = TenantOpt) -> None:
    """Resume a paused campaign."""
    _action("resume", campaign_id, tenant)


@app.command("cancel")
def cancel(campaign_id: int, tenant: str | None = TenantOpt) -> None:
    """Cancel for good; unsent messages are cancelled."""
    _action("cancel", campaign_id, tenant)


@app.command("approve")
def approve(campaign_id: int, tenant: str | None = TenantOpt) -> None:
    """Approve a campaign a review-mode key scheduled."""
    _action("approve", campaign_id, tenant)


@app.command("stats")
def stats(campaign_id: int, tenant: str | None = TenantOpt) -> None:
    """Status, counters and variants."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            st = service.stats(
                session, principal=principal, campaign_id=campaign_id, with_accounts=True
            )
    reason = f" ({st.status_reason})" if st.status_reason else ""
    out.print(f"campaign {st.id}: {st.status}{reason}", markup=False)
    table = Table()
    for column in ("", *st.counts.model_dump()):
        table.add_column(column)
    table.add_row("all", *(str(v) for v in st.counts.model_dump().values()))
    for v in st.variants:
        table.add_row(v.label, *(str(n) for n in v.counts.model_dump().values()))
    out.print(table)
    for a in st.accounts:
        out.print(f"{a.account}: {a.sent} sent, {a.pending} in the queue", markup=False)


@app.command("recipients")
def recipients(
    campaign_id: int,
    status: Status | None = typer.Option(None, "--status"),
    csv: Path | None = typer.Option(None, "--csv", help="Write the whole ledger to this file."),
    tenant: str | None = TenantOpt,
) -> None:
    """The recipients ledger: a count by status, or a CSV export."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            c = service.get_or_raise(session, principal=principal, campaign_id=campaign_id)
            if csv is None:
                page = campaign_stats.recipients(session, c, status=status, limit=1, offset=0)
                out.print(f"{page.total} recipient(s){f' {status}' if status else ''}")
                return
            lines = 0
            with csv.open("w", encoding="utf-8", newline="") as f:
                for line in campaign_stats.export_csv(session, c, status=status):
                    f.write(line)
                    lines += 1
    out.print(f"wrote {lines - 1} recipient(s) to {csv}", markup=False)


@app.command("segment-preview")
def segment_preview(
    file: Path = typer.Argument(..., help='JSON definition, e.g. {"kind": "rules", ...}.'),
    tenant: str | None = TenantOpt,
) -> None:
    """How many leads and addresses a segment definition selects."""
    try:
        data = SegmentPreviewIn.model_validate({"definition": _json(file)})
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            got = catalog.preview(
                session,
                tenant_id=principal.tenant_id,
                definition=data.definition,
                sample=data.sample,
            )
    out.print(f"{got.leads} lead(s), {got.addresses} address(es)")
    for s in got.sample:
        out.print(f"  {s.lead_id} {s.nome or ''} {', '.join(s.emails)}", markup=False)
