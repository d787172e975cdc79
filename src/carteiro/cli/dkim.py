"""`carteiro dkim`: generate, list and remove DKIM keys; check an account's DNS records."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from carteiro.accounts import dns as account_dns
from carteiro.cli.common import TENANT_HELP, fail, open_runtime, out, tenant_id_for
from carteiro.mail.resolver import DnsConfig, DnsResolver
from carteiro.outbound.dkim import keys as dkim_keys

app = typer.Typer(
    help="DKIM keys per sending domain and DNS checks (SPF, DKIM, DMARC, MX).",
    no_args_is_help=True,
)

STATUS_STYLE = {"ok": "green", "warning": "yellow", "error": "red", "skipped": "dim"}


@app.command("generate")
def generate(
    domain: str = typer.Argument(..., help="The From domain to sign for, e.g. example.com."),
    selector: str = typer.Option(
        dkim_keys.DEFAULT_SELECTOR, "--selector", help="DNS selector; use a new one to rotate."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Replace the key with this selector (republish the record)."
    ),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Generate a 2048-bit RSA key (stored encrypted) and print the TXT record to publish."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            key = dkim_keys.generate_key(
                session,
                tenant_id=tenant_id,
                domain=domain,
                selector=selector,
                vault=runtime.vault,
                replace=replace,
            )
            record = dkim_keys.dns_record(key)
        out.print(f"DKIM key {key.id} for {key.domain} (selector {key.selector})", markup=False)
        out.print("publish this TXT record:", markup=False)
        out.print(f"name:  {record.name}", markup=False)
        out.print(f"value: {record.value}", markup=False)


@app.command("list")
def list_keys(
    domain: str | None = typer.Option(None, "--domain", help="Only this domain."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """List DKIM keys and the record name each must be published at."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            keys = [
                dkim_keys.public(k)
                for k in dkim_keys.list_(session, tenant_id=tenant_id, domain=domain)
            ]
        if not keys:
            out.print("no DKIM keys: create one with `carteiro dkim generate DOMAIN`")
            return
        table = Table(title="DKIM keys")
        for column in ("id", "domain", "selector", "bits", "active", "record name"):
            table.add_column(column)
        for k in keys:
            table.add_row(
                str(k.id),
                escape(k.domain),
                escape(k.selector),
                str(k.bits),
                "yes" if k.active else "no",
                escape(k.record.name),
            )
        out.print(table)


@app.command("show")
def show(
    domain: str = typer.Argument(..., help="The domain whose records to print."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Print the TXT record(s) to publish for a domain's keys."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            records = [
                dkim_keys.dns_record(k)
                for k in dkim_keys.list_(session, tenant_id=tenant_id, domain=domain)
            ]
        if not records:
            fail(f"no DKIM key for {domain}: run carteiro dkim generate {domain}")
        for record in records:
            out.print(f'{record.name} TXT "{record.value}"', markup=False)


@app.command("remove")
def remove(
    key_id: int = typer.Argument(..., help="The key's id (see carteiro dkim list)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Remove a key; mail for its domain is no longer signed with it."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            key = dkim_keys.get_or_raise(session, tenant_id=tenant_id, key_id=key_id)
            label = f"{key.selector}._domainkey.{key.domain}"
        if not yes:
            typer.confirm(f"Remove DKIM key {label}?", abort=True)
        with runtime.db.session() as session:
            dkim_keys.delete(session, tenant_id=tenant_id, key_id=key_id)
        out.print(f"removed DKIM key {label}", markup=False)


@app.command("check")
def check(
    account: str = typer.Argument(..., help="Account name or id."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Check the account's domain: SPF, DKIM, DMARC, MX; exit 1 when a check fails."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        resolver = DnsResolver.from_config(DnsConfig.from_settings(runtime.settings))
        report = account_dns.check_account(
            runtime.db, tenant_id=tenant_id, ref=account, resolver=resolver
        )
        table = Table(title=f"DNS of {report.domain} (account {report.account})")
        for column in ("check", "status", "detail"):
            table.add_column(column)
        for c in report.checks:
            style = STATUS_STYLE[c.status]
            table.add_row(c.name.upper(), f"[{style}]{c.status}[/{style}]", escape(c.message))
        out.print(table)
        if report.records:
            out.print("records to publish:", markup=False)
            for r in report.records:
                out.print(f'  {r.name} {r.type} "{r.value}"', markup=False)
        if report.status == "error":
            fail(f"the DNS of {report.domain} is not ready (see the checks above)")
        out.print(f"overall: {report.status}", markup=False)
