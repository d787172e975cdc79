"""`carteiro whatsapp`: connect numbers, register templates, send a test message."""

from __future__ import annotations

import asyncio
from typing import Literal

import typer
from rich.markup import escape
from rich.table import Table

from carteiro.cli.common import TENANT_HELP, fail, local_principal, open_runtime, out
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp import trial
from carteiro.whatsapp.registry import Providers
from carteiro.whatsapp.schemas import NumberCreate, TemplateCreate, TemplateParam

app = typer.Typer(
    help="The WhatsApp channel: numbers, templates, a test send.", no_args_is_help=True
)
numbers = typer.Typer(
    help="WhatsApp numbers (Cloud API, or the Evolution gateway).", no_args_is_help=True
)
templates = typer.Typer(help="The local registry of approved templates.", no_args_is_help=True)
app.add_typer(numbers, name="numbers")
app.add_typer(templates, name="templates")


@numbers.command("add")
def numbers_add(
    name: str = typer.Option(..., "--name"),
    phone_number_id: str = typer.Option(..., "--phone-number-id", help="Cloud API id or instance."),
    provider: Literal["cloud", "evolution"] = typer.Option("cloud", "--provider"),
    display_phone: str | None = typer.Option(None, "--display-phone"),
    base_url: str | None = typer.Option(None, "--base-url", help="Evolution: its URL."),
    rate: float = typer.Option(80.0, "--rate", help="Messages per second (Meta's default 80)."),
    fallback_template: str | None = typer.Option(None, "--fallback-template"),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Connect a number; the token, app secret and verify token are asked for (not echoed)."""
    token = typer.prompt("access token (or Evolution apikey)", hide_input=True)
    app_secret = typer.prompt(
        "app secret (webhook signatures; empty for Evolution)",
        default="",
        hide_input=True,
        show_default=False,
    )
    verify = typer.prompt("verify token (webhook set-up)", hide_input=True)
    data = NumberCreate(
        name=name,
        provider=provider,
        phone_number_id=phone_number_id,
        display_phone=display_phone,
        token=token,
        app_secret=app_secret or None,
        verify_token=verify,
        base_url=base_url,
        rate_per_second=rate,
        fallback_template=fallback_template,
    )
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            number = whatsapp.create_number(
                session,
                tenant_id=principal.tenant_id,
                data=data,
                vault=runtime.vault,
                evolution_enabled=runtime.settings.whatsapp_evolution_enabled,
            )
            public = whatsapp.number_public(number)
    out.print(
        f"number {public.id} ({public.name}) added; webhook URL path: {public.webhook_path}",
        markup=False,
    )


@numbers.command("list")
def numbers_list(tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP)) -> None:
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            rows = [
                whatsapp.number_public(n)
                for n in whatsapp.list_numbers(session, tenant_id=principal.tenant_id)
            ]
    if not rows:
        out.print("no WhatsApp numbers")
        return
    table = Table(title="WhatsApp numbers")
    for column in ("id", "name", "provider", "phone number id", "status", "webhook"):
        table.add_column(column)
    for n in rows:
        status = n.status + (f" ({escape(n.paused_reason or '')})" if n.status == "paused" else "")
        table.add_row(
            str(n.id), escape(n.name), n.provider, escape(n.phone_number_id), status, n.webhook_path
        )
    out.print(table)


@numbers.command("resume")
def numbers_resume(
    number: str = typer.Argument(..., help="Name or id."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Close a paused number's circuit breaker (after fixing its token or account)."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            whatsapp.resume(session, tenant_id=principal.tenant_id, ref=number)
    out.print(f"number {number} active", markup=False)


@templates.command("add")
def templates_add(
    name: str = typer.Argument(..., help="The template's name as approved by Meta."),
    param: list[str] = typer.Option([], "--param", help="A body variable, in order (repeat)."),
    language: str = typer.Option("pt_BR", "--language"),
    category: Literal["UTILITY", "MARKETING", "AUTHENTICATION"] = typer.Option(
        "UTILITY", "--category"
    ),
    positional: bool = typer.Option(False, "--positional", help="{{1}}, {{2}} … instead of names."),
    body: str | None = typer.Option(None, "--body", help="The approved text, for previews."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Register an approved template so dispatches can check their variables."""
    data = TemplateCreate(
        name=name,
        language=language,
        category=category,
        param_format="positional" if positional else "named",
        params=[TemplateParam(name=p) for p in param],
        body=body,
    )
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            whatsapp.create_template(session, tenant_id=principal.tenant_id, data=data)
    out.print(f"template {name} ({language}) registered with {len(param)} variables", markup=False)


@templates.command("list")
def templates_list(tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP)) -> None:
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            rows = [
                whatsapp.template_public(t)
                for t in whatsapp.list_templates(session, tenant_id=principal.tenant_id)
            ]
    if not rows:
        out.print("no templates registered")
        return
    table = Table(title="WhatsApp templates")
    for column in ("name", "language", "category", "variables"):
        table.add_column(column)
    for t in rows:
        table.add_row(
            escape(t.name), t.language, t.category, ", ".join(str(p["name"]) for p in t.params)
        )
    out.print(table)


@app.command("test")
def test(
    to: str = typer.Argument(..., help="E.164 number to send to, e.g. +5511987654321."),
    template: str = typer.Option(..., "--template", help="A registered template."),
    var: list[str] = typer.Option([], "--var", help="name=value (repeat)."),
    number: str | None = typer.Option(None, "--number", help="Name or id; default the first."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Send one template message now, outside the queue, and print the provider's answer."""
    variables = dict(v.partition("=")[::2] for v in var)
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            if (
                number is None
                and whatsapp.default_number(session, tenant_id=principal.tenant_id) is None
            ):
                fail("no WhatsApp number: add one with carteiro whatsapp numbers add")
            if (
                whatsapp.find_template(session, tenant_id=principal.tenant_id, name=template)
                is None
            ):
                fail(f"template {template} is not registered: carteiro whatsapp templates add")
            prepared = trial.prepare(
                session,
                tenant_id=principal.tenant_id,
                to=to,
                template=template,
                variables=variables,
                number_ref=number,
                field="--var",
            )
        providers = Providers(runtime.settings, runtime.vault)

        async def send() -> None:
            try:
                result = await trial.send(prepared, providers=providers)
            finally:
                await providers.aclose()
            if result.accepted:
                out.print(
                    f"accepted: {result.message_id} (wa_id {result.recipient_id})", markup=False
                )
            else:
                err = result.error
                assert err is not None
                fail(f"refused ({err.cls.value}, {err.code}): {err.message}")

        asyncio.run(send())
