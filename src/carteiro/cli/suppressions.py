"""`carteiro suppressions`: add, list and remove suppressed addresses and domains."""

from __future__ import annotations

from typing import Literal

import typer
from rich.markup import escape
from rich.table import Table

from carteiro.cli.common import TENANT_HELP, fail, open_runtime, out, tenant_id_for
from carteiro.leads import suppression

app = typer.Typer(
    help="Manage the suppression list (addresses and domains that receive no mail).",
    no_args_is_help=True,
)

Reason = Literal["hard_bounce", "complaint", "unsubscribe", "manual"]


@app.command("add")
def add(
    value: str = typer.Argument(..., help="An address (name@example.com) or a domain."),
    reason: Reason = typer.Option("manual", "--reason", help="Why it is suppressed."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Suppress an address, or every address of a domain; repeating it changes nothing."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        email, domain = (value, None) if "@" in value else (None, value)
        with runtime.db.session() as session:
            row, created = suppression.suppress(
                session,
                tenant_id=tenant_id,
                email=email,
                domain=domain,
                reason=reason,
                source="cli",
            )
            label, row_id, row_reason = row.value, row.id, row.reason
        verb = "suppressed" if created else "already suppressed"
        out.print(f"{verb} {label} (id {row_id}, {row_reason})", markup=False)


@app.command("list")
def list_entries(
    reason: Reason | None = typer.Option(None, "--reason", help="Only this reason."),
    search: str | None = typer.Option(None, "--search", help="Part of an address or domain."),
    limit: int = typer.Option(50, "--limit", min=1, max=suppression.MAX_PAGE),
    offset: int = typer.Option(0, "--offset", min=0),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """List entries, newest first."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            page = suppression.page(
                session,
                tenant_id=tenant_id,
                reason=reason,
                search=search,
                limit=limit,
                offset=offset,
            )
        if not page.items:
            out.print("no suppressions")
            return
        table = Table(title=f"Suppressions ({page.total})")
        for column in ("id", "address or domain", "reason", "source", "since"):
            table.add_column(column)
        for item in page.items:
            table.add_row(
                str(item.id),
                escape(item.email or f"@{item.domain}"),
                item.reason,
                escape(item.source),
                item.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            )
        out.print(table)


@app.command("remove")
def remove(
    entry: str = typer.Argument(..., help="The entry's id, address or domain."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Remove an entry so the address or domain can receive mail again."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            if entry.isdigit():
                row = suppression.get_or_raise(
                    session, tenant_id=tenant_id, suppression_id=int(entry)
                )
            else:
                found = suppression.find(session, tenant_id=tenant_id, value=entry)
                if found is None:
                    fail(f"{entry} is not suppressed")
                row = found
            row_id, label, reason = row.id, row.value, row.reason
        if not yes:
            typer.confirm(f"Allow mail to {label} again (suppressed for {reason})?", abort=True)
        with runtime.db.session() as session:
            suppression.delete(session, tenant_id=tenant_id, suppression_id=row_id)
        out.print(f"removed {label} from the suppression list", markup=False)
