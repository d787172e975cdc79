"""The `carteiro` command: one Typer app gathering every domain's commands."""

from __future__ import annotations

import typer

from carteiro.cli import (
    accounts,
    appointments,
    campaigns,
    disparos,
    dkim,
    doctor,
    inbox,
    keys,
    leads,
    mcp,
    responder,
    send,
    server,
    suppressions,
    users,
    whatsapp,
)
from carteiro.cli.common import CarteiroGroup

app = typer.Typer(
    name="carteiro",
    cls=CarteiroGroup,
    help="Carteiro: self-hosted email operations (queue, accounts, REST API, MCP).",
    no_args_is_help=True,
    # Tracebacks with locals could print secrets (passwords, keys); keep them plain.
    pretty_exceptions_show_locals=False,
)
app.add_typer(server.app)
app.add_typer(keys.app, name="keys")
app.add_typer(accounts.app, name="accounts")
app.add_typer(send.app)
app.add_typer(mcp.app)
app.add_typer(doctor.app)
app.add_typer(leads.app, name="import")
app.add_typer(suppressions.app, name="suppressions")
app.add_typer(dkim.app, name="dkim")
app.add_typer(inbox.app, name="inbox")
app.add_typer(users.app, name="users")
app.add_typer(responder.app, name="responder")

app.add_typer(appointments.app, name="agendamentos")

app.add_typer(campaigns.app, name="campaigns")
app.add_typer(disparos.app, name="disparos")
app.add_typer(whatsapp.app, name="whatsapp")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
