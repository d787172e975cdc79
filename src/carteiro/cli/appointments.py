"""`carteiro agendamentos`: book, list, show, reschedule, cancel and close appointments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import typer
from rich.markup import escape
from rich.table import Table

from carteiro.appointments import public, reminders, service, worker, zones
from carteiro.appointments.schemas import (
    AgendamentoCancel,
    AgendamentoCreate,
    AgendamentoPublic,
    AgendamentoUpdate,
)
from carteiro.cli.common import TENANT_HELP, fail, local_principal, open_runtime, out
from carteiro.db import leases

app = typer.Typer(
    help="Appointments (agendamentos): callbacks and meetings with leads, and their reminders.",
    no_args_is_help=True,
)

Tipo = Literal["callback", "reuniao"]
Canal = Literal["telefone", "whatsapp", "video"]
Status = Literal["pendente", "realizado", "cancelado", "nao_compareceu"]
WHEN_HELP = "Date and time with its UTC offset, e.g. 2030-12-10T14:00:00-03:00."


def _when(value: str, option: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: '{value}' is not a date and time; e.g. 2030-12-10T14:00:00-03:00")
    if when.tzinfo is None:
        fail(f"{option}: give the UTC offset too, e.g. 2030-12-10T14:00:00-03:00")
    return when


def _offsets(value: str | None) -> list[int] | None:
    return None if value is None else reminders.parse_offsets(value, field="--lembretes")


def _show(ag: AgendamentoPublic) -> None:
    when = zones.spoken(ag.data_agendada, ag.timezone)
    out.print(
        f"agendamento {ag.agendamento_id}: {ag.tipo} by {ag.canal} on {when}, {ag.status}",
        markup=False,
    )
    if ag.video_url:
        out.print(f"  video: {ag.video_url}", markup=False)
    for r in ag.lembretes:
        extra = f" ({r.motivo})" if r.motivo else ""
        out.print(
            f"  reminder {r.offset_minutos} min before by {r.channel}: {r.status}{extra}",
            markup=False,
        )


@app.command("create")
def create(
    lead_id: int = typer.Argument(..., min=1, help="The lead's id (carteiro: GET /leads)."),
    tipo: Tipo = typer.Option(..., "--tipo", help="callback or reuniao."),
    canal: Canal = typer.Option(..., "--canal", help="telefone, whatsapp or video."),
    at: str = typer.Option(..., "--at", help=WHEN_HELP),
    notes: str | None = typer.Option(None, "--observacoes", help="Notes for the appointment."),
    minutes: int | None = typer.Option(None, "--duracao", min=5, max=1440, help="Minutes."),
    zone: str | None = typer.Option(None, "--timezone", help="IANA zone, e.g. America/Manaus."),
    offsets: str | None = typer.Option(
        None, "--lembretes", help="Minutes before the start, e.g. 1440,60 (default: tenant's)."
    ),
    no_invite: bool = typer.Option(False, "--no-invite", help="Do not e-mail an invitation."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Book a callback or meeting with a lead; reminders and invitation included."""
    data = AgendamentoCreate(
        tipo=tipo,
        canal=canal,
        data_agendada=_when(at, "--at"),
        observacoes=notes,
        duracao_minutos=minutes,
        timezone=zone,
        lembretes_minutos=_offsets(offsets),
        enviar_convite=not no_invite,
    )
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            ag, _ = service.create(
                session,
                principal=principal,
                lead_id=lead_id,
                data=data,
                settings=runtime.settings,
                actor="cli",
            )
            shown = public.one(session, ag)
    _show(shown)


@app.command("list")
def list_appointments(
    day: str | None = typer.Option(None, "--dia", help="A local day, YYYY-MM-DD."),
    days: int = typer.Option(1, "--dias", min=1, max=62, help="Days from --dia (7: a week)."),
    zone: str | None = typer.Option(None, "--timezone", help="IANA zone of --dia."),
    status: Status | None = typer.Option(None, "--status", help="Only this status."),
    lead_id: int | None = typer.Option(None, "--lead", min=1, help="Only this lead's."),
    limit: int = typer.Option(50, "--limit", min=1, max=service.MAX_PAGE),
    offset: int = typer.Option(0, "--offset", min=0),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """List appointments, soonest first."""
    start = end = None
    with open_runtime() as runtime:
        if day is not None:
            try:
                local_day = date.fromisoformat(day)
            except ValueError:
                fail(f"--dia: '{day}' is not a day; e.g. 2030-12-10")
            try:
                tz = zones.check_zone(zone or runtime.settings.default_timezone)
            except ValueError as exc:
                fail(f"--timezone: {exc}")
            start, end = public.day_bounds(local_day, tz, days=days)
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            items, total = service.list_(
                session,
                tenant_id=principal.tenant_id,
                start=start,
                end=end,
                status=status,
                lead_id=lead_id,
                limit=limit,
                offset=offset,
            )
            page = public.page(session, items, total=total, limit=limit, offset=offset)
    table = Table("id", "when", "lead", "tipo", "canal", "status", "reminders")
    for ag in page.items:
        waiting = sum(1 for r in ag.lembretes if r.status == "agendado")
        table.add_row(
            str(ag.agendamento_id),
            zones.spoken(ag.data_agendada, ag.timezone),
            escape(ag.lead_nome or str(ag.lead_id)),
            ag.tipo,
            ag.canal,
            ag.status,
            f"{waiting} waiting",
        )
    out.print(table)
    out.print(f"{len(page.items)} of {page.total}")


@app.command("show")
def show(
    agendamento_id: int = typer.Argument(..., min=1),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """One appointment with its reminders and event log."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            ag = service.get_or_raise(
                session, tenant_id=principal.tenant_id, agendamento_id=agendamento_id
            )
            detail = public.detail(session, ag)
    _show(detail)
    for e in detail.eventos:
        out.print(f"  {e.created_at:%Y-%m-%d %H:%M} {e.tipo} by {e.ator or '-'}", markup=False)


@app.command("reschedule")
def reschedule(
    agendamento_id: int = typer.Argument(..., min=1),
    at: str = typer.Option(..., "--at", help=WHEN_HELP),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Move an appointment: new reminders, an updated invitation."""
    data = AgendamentoUpdate(data_agendada=_when(at, "--at"))
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            ag = service.update(
                session,
                principal=principal,
                agendamento_id=agendamento_id,
                data=data,
                settings=runtime.settings,
                actor="cli",
            )
            shown = public.one(session, ag)
    _show(shown)


@app.command("cancel")
def cancel(
    agendamento_id: int = typer.Argument(..., min=1),
    reason: str = typer.Option(..., "--motivo", help="Why (required), e.g. cliente_solicitou."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Cancel an appointment with its reason; no reminder fires afterwards."""
    if not reason.strip():
        fail("--motivo: say why the appointment is cancelled")
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            ag = service.cancel(
                session,
                principal=principal,
                agendamento_id=agendamento_id,
                data=AgendamentoCancel(motivo_cancelamento=reason),
                settings=runtime.settings,
                actor="cli",
            )
            shown = public.one(session, ag)
    _show(shown)


@app.command("done")
def done(
    agendamento_id: int = typer.Argument(..., min=1),
    no_show: bool = typer.Option(False, "--no-show", help="The lead did not attend."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Mark an appointment done (realizado), or a no-show (nao_compareceu)."""
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            ag = service.complete(
                session,
                principal=principal,
                agendamento_id=agendamento_id,
                status="nao_compareceu" if no_show else "realizado",
                actor="cli",
            )
            shown = public.one(session, ag)
    _show(shown)


@app.command("reminders")
def set_reminders(
    offsets: str = typer.Argument(..., help="Minutes before the start, e.g. 1440,60."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Set the tenant's default reminders (new appointments get these)."""
    values = reminders.parse_offsets(offsets, field="offsets")
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            saved = reminders.set_tenant_offsets(
                session, tenant_id=principal.tenant_id, offsets=values
            )
    out.print(f"reminders: {', '.join(map(str, saved)) or 'none'} minutes before", markup=False)


@app.command("fire")
def fire_due() -> None:
    """Fire the reminders due now (a worker does this by itself every second)."""
    with open_runtime() as runtime:
        count = worker.run_due(runtime.db, runtime.settings, owner=f"cli:{leases.worker_id()}")
    out.print(f"{count} reminder(s) handled", markup=False)
