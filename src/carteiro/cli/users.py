"""`carteiro users`: people who log in to the web console (create, list, reset, disable)."""

from __future__ import annotations

import secrets
import sys

import typer
from rich.markup import escape
from rich.table import Table

from carteiro.cli.common import TENANT_HELP, fail, open_runtime, out, tenant_id_for
from carteiro.tenancy import audit, people, sessions
from carteiro.tenancy.roles import ROLES

app = typer.Typer(help="Manage the people who log in to the web console.", no_args_is_help=True)

PASSWORD_STDIN_HELP = (
    "Read the password from standard input (first line); without it a random one is printed."
)


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password to set and whether it was generated (then it is printed once)."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            fail("no password on standard input")
        return line, False
    return secrets.token_urlsafe(12), True


@app.command("create")
def create(
    email: str = typer.Option(..., "--email", help="The address the person logs in with."),
    name: str = typer.Option(..., "--name", help="The person's name as shown in the console."),
    role: str = typer.Option(
        "operator", "--role", help=f"One of {', '.join(ROLES)} (default: operator)."
    ),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=PASSWORD_STDIN_HELP),
    locale: str | None = typer.Option(None, "--locale", help="pt_BR or en (default: browser's)."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Create a person (an owner too: then the setup link stops working)."""
    password, generated = _password(password_stdin)
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            user = people.create(
                session,
                tenant_id=tenant_id,
                email=email,
                name=name,
                password=password,
                role=role,
                locale=locale,
            )
            audit.record(
                session,
                tenant_id=tenant_id,
                user_id=None,
                action="user_create",
                actor="cli",
                target_type="user",
                target_id=user.id,
                detail={"email": user.email, "role": user.role},
            )
            shown = (user.id, user.email, user.role)
    out.print(f"created {shown[2]} {shown[1]} (id {shown[0]})", markup=False)
    if generated:
        print(f"Password: {password}", flush=True)
        out.print("[dim]Shown once: only its hash is stored.[/dim]")


@app.command("list")
def list_users(tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP)) -> None:
    """List the tenant's people (never their passwords)."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            found = people.list_all(session, tenant_id=tenant_id)
            now = people.now()
            rows = [
                (
                    str(u.id),
                    escape(u.email),
                    escape(u.name),
                    u.role,
                    "disabled"
                    if u.disabled
                    else ("locked" if u.locked_until and u.locked_until > now else "active"),
                    u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "—",
                )
                for u in found
            ]
    if not rows:
        out.print("no people yet: `carteiro users create`, or the setup link `serve` prints")
        return
    table = Table(title="People")
    for column in ("id", "email", "name", "role", "status", "last login"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@app.command("reset-password")
def reset_password(
    email: str = typer.Argument(..., help="The person's e-mail."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=PASSWORD_STDIN_HELP),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Set a new password (also lifts a lockout) and end the person's sessions."""
    password, generated = _password(password_stdin)
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            user = people.get_by_email_or_raise(session, tenant_id=tenant_id, email=email)
            people.set_password(session, user=user, password=password)
            ended = sessions.revoke_all(session, user_id=user.id)
            audit.record(
                session,
                tenant_id=tenant_id,
                user_id=None,
                action="user_update",
                actor="cli",
                target_type="user",
                target_id=user.id,
                detail={"password": "reset", "sessions_ended": ended},
            )
            address = user.email
    out.print(f"new password set for {address}; {ended} session(s) ended", markup=False)
    if generated:
        print(f"Password: {password}", flush=True)
        out.print("[dim]Shown once: only its hash is stored.[/dim]")


def _set_disabled(email: str, tenant: str | None, *, disabled: bool) -> None:
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            user = people.get_by_email_or_raise(session, tenant_id=tenant_id, email=email)
            people.set_disabled(session, user=user, disabled=disabled)
            ended = sessions.revoke_all(session, user_id=user.id) if disabled else 0
            audit.record(
                session,
                tenant_id=tenant_id,
                user_id=None,
                action="user_update",
                actor="cli",
                target_type="user",
                target_id=user.id,
                detail={"disabled": disabled},
            )
            address = user.email
    if disabled:
        out.print(f"disabled {address}; {ended} session(s) ended", markup=False)
    else:
        out.print(f"enabled {address}", markup=False)


@app.command("disable")
def disable(
    email: str = typer.Argument(..., help="The person's e-mail."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Stop a person from logging in; their sessions end at once."""
    _set_disabled(email, tenant, disabled=True)


@app.command("enable")
def enable(
    email: str = typer.Argument(..., help="The person's e-mail."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Let a disabled person log in again."""
    _set_disabled(email, tenant, disabled=False)
