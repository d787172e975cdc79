"""`carteiro accounts`: add, list, test and remove sending accounts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape
from rich.table import Table

from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account
from carteiro.accounts.schemas import AccountCreate, Limits, SmtpIn
from carteiro.cli.common import (
    TENANT_HELP,
    fail,
    local_principal,
    open_runtime,
    out,
    tenant_id_for,
)
from carteiro.tenancy.scopes import ACCOUNTS_WRITE

app = typer.Typer(help="Manage sending accounts (SMTP).", no_args_is_help=True)

Security = Literal["starttls", "ssl", "none"]


def _limits(account: Account) -> str:
    parts = [
        f"{account.limit_per_minute}/min" if account.limit_per_minute else None,
        f"{account.limit_per_hour}/hour" if account.limit_per_hour else None,
        f"{account.limit_per_day}/day" if account.limit_per_day else None,
        f"{account.max_connections} conn",
    ]
    return ", ".join(p for p in parts if p)


def _login(account: Account) -> str:
    if account.smtp_username is None:
        return "—"
    secret = "password set" if account.smtp_password_enc else "no password"
    return f"{account.smtp_username} ({secret})"


def _tls(account: Account) -> str:
    if account.smtp_security == "none":
        return "none"
    if not account.smtp_verify_tls:
        return f"{account.smtp_security}, unverified"
    if account.smtp_ca_file:
        return f"{account.smtp_security}, CA {account.smtp_ca_file}"
    return account.smtp_security


@app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name to refer to the account by."),
    email: str = typer.Option(..., "--email", help="The From address messages are sent as."),
    host: str = typer.Option(..., "--host", help="SMTP server, e.g. smtp.gmail.com."),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Default: 587, 465 for ssl, 25 for none."
    ),
    security: Security = typer.Option(
        "starttls", "--security", help="starttls (submission), ssl (implicit TLS) or none."
    ),
    username: str | None = typer.Option(None, "--username", help="SMTP login."),
    password: str | None = typer.Option(
        None,
        "--password",
        help="SMTP password (stored encrypted). Asked for, hidden, when --username is given "
        "without it.",
    ),
    display_name: str | None = typer.Option(None, "--display-name", help="From display name."),
    no_verify_tls: bool = typer.Option(
        False, "--no-verify-tls", help="Accept any server certificate (testing only)."
    ),
    ca_file: Path | None = typer.Option(
        None, "--ca-file", help="PEM file of the CA (or self-signed certificate) to trust."
    ),
    per_minute: int | None = typer.Option(None, "--per-minute", min=1, help="Send limit."),
    per_hour: int | None = typer.Option(None, "--per-hour", min=1, help="Send limit."),
    per_day: int | None = typer.Option(None, "--per-day", min=1, help="Send limit."),
    max_connections: int = typer.Option(
        2, "--max-connections", min=1, max=100, help="Parallel SMTP connections."
    ),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Add an SMTP account; its password is stored encrypted and never shown again."""
    if username and password is None:
        password = typer.prompt(f"SMTP password for {username}", hide_input=True)
    # Stored as an absolute path: workers may run from another directory.
    ca_path = str(ca_file.expanduser().resolve()) if ca_file is not None else None
    data = AccountCreate(
        name=name,
        email=email,
        display_name=display_name,
        smtp=SmtpIn(
            host=host,
            port=port,
            security=security,
            username=username,
            password=password or None,
            verify_tls=not no_verify_tls,
            ca_file=ca_path,
        ),
        limits=Limits(
            per_minute=per_minute,
            per_hour=per_hour,
            per_day=per_day,
            max_connections=max_connections,
        ),
    )
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            account = accounts.create(
                session,
                tenant_id=tenant_id,
                data=data,
                vault=runtime.vault,
                allow_private=runtime.settings.accounts_allow_private,
            )
            summary = (
                f"added account '{account.name}' (id {account.id}): {account.email} via "
                f"{account.smtp_host}:{account.smtp_port} ({_tls(account)})"
            )
        out.print(summary, markup=False)
        out.print(f"[dim]Check the login with `carteiro accounts test {escape(name)}`.[/dim]")


@app.command("list")
def list_accounts(
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """List accounts (passwords are never shown)."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            found = accounts.list_(session, tenant_id=tenant_id)
        if not found:
            out.print(
                "no accounts: messages are captured locally (add one with `carteiro accounts add`)"
            )
            return
        table = Table(title="Accounts")
        for column in ("id", "name", "email", "server", "tls", "login", "limits", "status"):
            table.add_column(column)
        for account in found:
            status = account.status
            if account.status_reason:
                status += f" ({account.status_reason})"
            cells = (
                account.name,
                account.email,
                f"{account.smtp_host}:{account.smtp_port}",
                _tls(account),
                _login(account),
                _limits(account),
                status,
            )
            table.add_row(str(account.id), *(escape(c) for c in cells))
        out.print(table)


@app.command("test")
def test(
    name: str = typer.Argument(..., help="Account name or id."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Really connect, negotiate TLS and log in; exit 1 saying which step failed."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        principal.require(ACCOUNTS_WRITE)
        with runtime.db.session() as session:
            account = accounts.get_or_raise(session, tenant_id=principal.tenant_id, ref=name)
            config = accounts.smtp_config(
                account,
                runtime.vault,
                timeout=runtime.settings.smtp_timeout,
                allow_private=runtime.settings.accounts_allow_private,
            )
            label = account.name
        result = asyncio.run(accounts.test_login(config, name=label))
        if not result.ok:
            fail(f"account '{label}' failed the login test: {result.detail}")
        out.print(f"[green]ok[/green] {escape(label)}: {escape(result.detail)}")


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="Account name or id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Remove an account (refused while it still has queued messages)."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            account = accounts.get_or_raise(session, tenant_id=tenant_id, ref=name)
            label = account.name
        if not yes:
            typer.confirm(f"Remove account '{label}'?", abort=True)
        with runtime.db.session() as session:
            accounts.delete(session, tenant_id=tenant_id, ref=name)
        out.print(f"removed account '{label}'", markup=False)
