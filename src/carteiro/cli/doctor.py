"""`carteiro doctor`: checks configuration, database, accounts and the queue, one row each."""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account
from carteiro.accounts.vault import KEY_FILE, Vault
from carteiro.cli.common import describe, out, print_error, safe_url
from carteiro.config import Settings, get_settings
from carteiro.db import migrate
from carteiro.db.engine import Database, ping
from carteiro.errors import CarteiroError
from carteiro.leads.unsubscribe import public_url_problem, unsubscribe_url
from carteiro.outbound import queue
from carteiro.tenancy import service as tenancy

app = typer.Typer()

Status = Literal["ok", "note", "warn", "fail"]
STYLES: dict[Status, str] = {
    "ok": "[green]ok[/green]",
    "note": "[blue]note[/blue]",
    "warn": "[yellow]warn[/yellow]",
    "fail": "[red]FAIL[/red]",
}
# The seed's operators treated a backlog above this as something to look at.
PENDING_WARN = 1000


@dataclass
class Check:
    name: str
    status: Status
    detail: str


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _data_dir(settings: Settings) -> Check:
    path = settings.data_dir.expanduser().resolve()
    if not path.exists():
        # Doctor only looks; the first start creates the directory if its parent allows it.
        parent = next(p for p in path.parents if p.exists())
        if os.access(parent, os.W_OK | os.X_OK):
            return Check("data directory", "note", f"{path} does not exist yet; created on start")
        return Check("data directory", "fail", f"{path} does not exist and {parent} is read-only")
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("data directory", "fail", f"{path} is not writable: {exc.strerror or exc}")
    return Check("data directory", "ok", f"{path} (writable)")


def _secret(settings: Settings) -> tuple[Check, Vault | None]:
    """Where the encryption key comes from; never creates one (doctor changes nothing)."""
    if settings.secret_key:
        return Check("secret key", "ok", "from CARTEIRO_SECRET_KEY"), Vault(settings.secret_key)
    path = settings.data_dir.expanduser() / KEY_FILE
    if not path.exists():
        detail = f"not created yet: generated into {path} on first start"
        return Check("secret key", "note", detail), None
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        return Check("secret key", "fail", f"cannot read {path}: {exc.strerror or exc}"), None
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        detail = f"from {path}, but other users can read it: chmod 600 {path}"
        return Check("secret key", "warn", detail), Vault(secret)
    return Check("secret key", "ok", f"from {path}"), Vault(secret)


def _public_url(settings: Settings) -> Check:
    problem = public_url_problem(settings)
    if problem:
        return Check("public URL", "warn", problem)
    return Check("public URL", "ok", f"unsubscribe links point at {unsubscribe_url(settings, '…')}")


def _sqlite_missing(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).expanduser()
    return None if path.exists() else path


def _database_checks(
    settings: Settings, vault: Vault | None, *, live_dns: bool = False
) -> list[Check]:
    missing = _sqlite_missing(settings.database_url)
    if missing is not None:
        detail = f"{missing} does not exist: run carteiro migrate (or carteiro serve)"
        return [Check("database", "fail", detail)]
    db = Database(settings.database_url)
    try:
        try:
            with db.engine.connect() as conn:
                ping(conn)
        except SQLAlchemyError as exc:
            detail = describe(exc) or f"cannot reach the database: {exc}"
            return [Check("database", "fail", detail)]
        checks = [Check("database", "ok", f"reachable ({db.dialect})")]
        current, head = migrate.current_revision(db.engine), migrate.head_revision()
        if current != head:
            detail = (
                "not migrated" if current is None else f"at revision {current}, expected {head}"
            )
            checks.append(Check("migrations", "fail", f"{detail}: run carteiro migrate"))
            return checks
        checks.append(Check("migrations", "ok", f"at head ({head})"))
        checks.extend(_tenant_checks(db, settings))
        checks.extend(_account_checks(db, settings, vault, live_dns=live_dns))
        checks.append(_queue_check(db))
        return checks
    finally:
        db.dispose()


def _tenant_checks(db: Database, settings: Settings) -> list[Check]:
    checks = []
    with db.session() as session:
        if tenancy.get_tenant_by_slug(session, slug=tenancy.DEFAULT_TENANT) is None:
            detail = "not created yet: carteiro serve creates it and prints the first API key"
            checks.append(Check("default tenant", "warn", detail))
        else:
            checks.append(Check("default tenant", "ok", "exists"))
        if settings.api_key:
            try:
                principal = tenancy.authenticate(session, plain=settings.api_key)
            except CarteiroError as exc:
                checks.append(Check("CARTEIRO_API_KEY", "fail", exc.message))
            else:
                tenant = tenancy.get_tenant(session, tenant_id=principal.tenant_id)
                slug = tenant.slug if tenant else "?"
                detail = f"valid: key '{principal.key_name}' of tenant '{slug}'"
                checks.append(Check("CARTEIRO_API_KEY", "ok", detail))
    return checks


async def _login(name: str, account: Account, vault: Vault | None, timeout: float) -> Check:
    if account.smtp_password_enc and vault is None:
        detail = "its password cannot be decrypted: no CARTEIRO_SECRET_KEY and no key file"
        return Check(name, "fail", detail)
    try:
        config = accounts.smtp_config(account, vault or Vault(""), timeout=timeout)
    except CarteiroError as exc:
        return Check(name, "fail", exc.message)
    result = await accounts.test_login(config, name=account.name)
    return Check(name, "ok" if result.ok else "fail", result.detail)


def _dns_check(
    db: Database, settings: Settings, account: Account, label: str, *, live: bool
) -> Check:
    """SPF, DKIM, DMARC and MX of the account's domain: checked now with --dns, otherwise the
    result stored by the last check (GET /accounts/{id}/dns, `carteiro dkim check`)."""
    name = f"{label} DNS"
    status = account.dns_status
    if live:
        from carteiro.accounts import dns as account_dns
        from carteiro.mail.resolver import DnsConfig, DnsResolver

        resolver = DnsResolver.from_config(DnsConfig.from_settings(settings))
        try:
            report = account_dns.check_account(
                db, tenant_id=account.tenant_id, ref=account.id, resolver=resolver
            )
        except CarteiroError as exc:
            return Check(name, "warn", exc.message)
        problems = [f"{c.name}: {c.message}" for c in report.checks if c.status != "ok"]
        detail = "; ".join(problems) or "SPF, DKIM, DMARC and MX look right"
        return Check(name, "ok" if report.status == "ok" else "warn", detail)
    if status is None:
        return Check(
            name,
            "note",
            f"not checked yet: carteiro doctor --dns, or carteiro dkim check {account.name}",
        )
    return Check(
        name, "ok" if status == "ok" else "warn", f"{status} at the last check (--dns to check now)"
    )


def _account_checks(
    db: Database, settings: Settings, vault: Vault | None, *, live_dns: bool = False
) -> list[Check]:
    with db.session() as session:
        slugs = tenancy.tenant_slugs(session)
        rows = [(a, slugs[a.tenant_id]) for a in accounts.list_every_tenant(session)]
    if not rows:
        detail = (
            "no account: capture mode, messages are stored locally and nothing leaves "
            "this machine (carteiro accounts add …)"
        )
        return [Check("accounts", "note", detail)]
    checks: list[Check] = []
    testing = []
    for account, slug in rows:
        label = (
            f"account {account.name}"
            if slug == tenancy.DEFAULT_TENANT
            else (f"account {slug}/{account.name}")
        )
        checks.append(_dns_check(db, settings, account, label, live=live_dns))
        if account.status != "active":
            reason = f": {account.status_reason}" if account.status_reason else ""
            checks.append(Check(label, "warn", f"{account.status}{reason} (not tested)"))
            continue
        testing.append(_login(label, account, vault, settings.smtp_timeout))

    async def run_all() -> list[Check]:
        return list(await asyncio.gather(*testing))

    if testing:
        checks.extend(asyncio.run(run_all()))
    return checks


def _queue_check(db: Database) -> Check:
    with db.session() as session:
        stats = queue.stats(session)
    counts = stats.counts
    pending, dead, held = counts.get("pending", 0), counts.get("dead", 0), counts.get("held", 0)
    parts = [f"{pending} pending"]
    oldest = stats.oldest_pending_age_seconds
    if oldest is not None:
        parts.append(f"oldest {_age(oldest)}")
    parts.append(f"{held} held")
    parts.append(f"{dead} dead")
    detail = ", ".join(parts)
    if pending > PENDING_WARN:
        return Check("queue", "warn", f"{detail}: backlog above {PENDING_WARN}; add workers?")
    if dead:
        return Check("queue", "warn", f"{detail}: see GET /queue/dead")
    return Check("queue", "ok", detail)


def run_checks(*, live_dns: bool = False) -> list[Check]:
    try:
        settings = get_settings()
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"msg": str(exc)}
        return [Check("configuration", "fail", str(first.get("msg")))]
    source = "environment and ./.env" if Path(".env").is_file() else "environment"
    detail = (
        f"from the {source}: database {safe_url(settings.database_url)}, "
        f"HTTP {settings.host}:{settings.port}"
    )
    checks = [Check("configuration", "ok", detail), _data_dir(settings), _public_url(settings)]
    secret, vault = _secret(settings)
    checks.append(secret)
    checks.extend(_database_checks(settings, vault, live_dns=live_dns))
    return checks


@app.command()
def doctor(
    dns: bool = typer.Option(
        False, "--dns", help="Also check each account's SPF, DKIM, DMARC and MX records now."
    ),
) -> None:
    """Check configuration, database, migrations, accounts (real SMTP logins, DNS) and the queue."""
    checks = run_checks(live_dns=dns)
    table = Table(title="carteiro doctor")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(Text(check.name), STYLES[check.status], Text(check.detail))
    out.print(table)
    failed = [c.name for c in checks if c.status == "fail"]
    if failed:
        print_error(f"{len(failed)} check(s) failed: {', '.join(failed)}")
        raise typer.Exit(1)
    out.print("[green]all checks passed[/green]")
