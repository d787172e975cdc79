"""`carteiro keys`: create, list and revoke API keys."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from carteiro.cli.common import TENANT_HELP, local_principal, open_runtime, out, tenant_id_for
from carteiro.config import Settings
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.models import ApiKey, Tenant
from carteiro.tenancy.scopes import ALL_SCOPES, DEFAULT_KEY_SCOPES, EVERYTHING
from carteiro.tenancy.service import Principal

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _rate(key: ApiKey, settings: Settings, *, source: str = "default") -> str:
    if key.rate_limit_per_hour is None:
        default = settings.email_rate_limit_per_hour
        shown = "unlimited" if default == 0 else f"{default}/hour"
        return f"{shown} ({source})"
    return "unlimited" if key.rate_limit_per_hour == 0 else f"{key.rate_limit_per_hour}/hour"


def _recipients(key: ApiKey) -> str:
    return "anyone" if key.allowed_recipients is None else ", ".join(key.allowed_recipients)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def _tenant_for_new_key(
    session: Session, runtime: Runtime, slug: str | None
) -> tuple[Tenant, bool, Principal | None]:
    """The tenant to add a key to, whether it was created just now, and the key creating it
    (None: the operator, next to the database)."""
    if slug is None and runtime.settings.api_key:
        principal = tenancy.authenticate(session, plain=runtime.settings.api_key)
        return session.get_one(Tenant, principal.tenant_id), False, principal
    slug = slug or tenancy.DEFAULT_TENANT
    tenant = tenancy.get_tenant_by_slug(session, slug=slug)
    if tenant is not None:
        return tenant, False, None
    name = "Default" if slug == tenancy.DEFAULT_TENANT else None
    return tenancy.create_tenant(session, slug=slug, name=name), True, None


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="What the key is for, e.g. 'billing agent'."),
    tenant: str | None = typer.Option(
        None, "--tenant", help="Tenant slug; created if it does not exist yet. " + TENANT_HELP
    ),
    scope: list[str] = typer.Option(
        [],
        "--scope",
        help=f"Scope to grant (repeatable; default: {', '.join(DEFAULT_KEY_SCOPES)}). One of: "
        f"{EVERYTHING}, {', '.join(ALL_SCOPES)}.",
    ),
    allow: list[str] = typer.Option(
        [],
        "--allow",
        help="Recipient pattern this key may send to, e.g. '*@example.com' (repeatable; "
        "default: anyone).",
    ),
    review: bool = typer.Option(
        False, "--review", help="Hold this key's messages until someone approves them."
    ),
    rate_limit: int | None = typer.Option(
        None,
        "--rate-limit",
        min=0,
        help="Recipients per rolling hour; 0 = unlimited (default: EMAIL_RATE_LIMIT_PER_HOUR).",
    ),
    own_only: bool = typer.Option(
        False,
        "--own-only",
        help="See and manage only the messages this key creates (always so with --allow or "
        "--review).",
    ),
) -> None:
    """Create an API key and print it (shown once; only its hash is stored)."""
    with open_runtime() as runtime:
        with runtime.db.session() as session:
            found, created, creator = _tenant_for_new_key(session, runtime, tenant)
            key, plain = tenancy.create_key(
                session,
                tenant_id=found.id,
                name=name,
                scopes=scope or DEFAULT_KEY_SCOPES,
                allowed_recipients=allow or None,
                review_mode=review,
                rate_limit_per_hour=rate_limit,
                own_messages_only=own_only,
                creator=creator,
                default_rate_limit=runtime.settings.email_rate_limit_per_hour,
            )
            slug = found.slug
        if created:
            out.print(f"created tenant '{slug}'")
        print(f"API key: {plain}", flush=True)
        table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("id", str(key.id))
        table.add_row("name", escape(key.name))
        table.add_row("tenant", slug)
        table.add_row("prefix", key.prefix)
        table.add_row("scopes", ", ".join(key.scopes))
        table.add_row("recipients", escape(_recipients(key)))
        table.add_row("review mode", "on (messages are held)" if key.review_mode else "off")
        table.add_row("sees", "only its own messages" if key.own_messages_only else "the tenant's")
        rate = _rate(key, runtime.settings, source="EMAIL_RATE_LIMIT_PER_HOUR")
        table.add_row("rate limit", rate)
        out.print(table)
        out.print("[dim]Shown once: only its hash is stored.[/dim]")


@app.command("list")
def list_keys(
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """List a tenant's API keys (never the keys themselves)."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            keys = tenancy.list_keys(session, tenant_id=tenant_id)
        if not keys:
            out.print("no API keys")
            return
        table = Table(title="API keys")
        for column in ("id", "name", "prefix", "scopes", "recipients", "limits"):
            table.add_column(column)
        table.add_column("last used")
        table.add_column("status")
        for key in keys:
            limits = _rate(key, runtime.settings) + (", review" if key.review_mode else "")
            limits += ", own only" if key.own_messages_only else ""
            status = (
                f"[red]revoked {_when(key.revoked_at)}[/red]"
                if key.revoked_at
                else "[green]active[/green]"
            )
            table.add_row(
                str(key.id),
                escape(key.name),
                key.prefix + "…",
                ", ".join(key.scopes),
                escape(_recipients(key)),
                limits,
                _when(key.last_used_at),
                status,
            )
        out.print(table)


@app.command("revoke")
def revoke(
    key_id: int = typer.Argument(..., metavar="ID", help="Key id (see `carteiro keys list`)."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Revoke an API key: it stops authenticating at once."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            existing = session.get(ApiKey, key_id)
            if existing and existing.tenant_id == principal.tenant_id and existing.revoked_at:
                out.print(f"key {key_id} ({existing.name}) was already revoked", markup=False)
                return
            key = tenancy.revoke_key(
                session,
                principal=principal,
                key_id=key_id,
                default_rate_limit=runtime.settings.email_rate_limit_per_hour,
            )
            name = key.name
        out.print(f"revoked key {key_id} ({name})", markup=False)
