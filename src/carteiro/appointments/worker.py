"""The reminder loop: claims due reminders with a lease, re-validates each against its
appointment, and fires it in the transaction that records it, in any number of processes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import anyio.to_thread
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from carteiro.appointments import metrics, reminders
from carteiro.appointments.models import Agendamento, Lembrete
from carteiro.config import Settings
from carteiro.db import leases
from carteiro.db.claims import claim_rows
from carteiro.db.engine import Database
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError
from carteiro.leads.models import Lead
from carteiro.loops import run_every
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.appointments")

# A reminder whose round crashed this often (a worker killed while firing it each time) is
# given up rather than retried forever.
MAX_TRIES = 5
# A reminder "at the start" (offset 0) still makes sense a little after it; any other reminder
# fired after the start would be news of something already under way.
START_GRACE = timedelta(minutes=5)
Clock = Callable[[], datetime]


def claim(
    session: Session, *, owner: str, lease_seconds: float, limit: int, now: datetime
) -> list[int]:
    """Leases the first due reminders nobody holds; returns their ids."""
    due = and_(
        Lembrete.status == "agendado",
        Lembrete.due_at <= now,
        or_(Lembrete.lease_until.is_(None), Lembrete.lease_until < now),
    )
    stmt = claim_rows(
        session,
        Lembrete,
        key=Lembrete.id,
        where=due,
        order_by=[Lembrete.due_at, Lembrete.id],
        limit=limit,
    )
    stmt = stmt.values(
        lease_owner=owner,
        lease_until=now + timedelta(seconds=lease_seconds),
        tentativas=Lembrete.tentativas + 1,
    ).returning(Lembrete.id)
    result = session.execute(stmt, execution_options={"synchronize_session": False})
    return [int(i) for i in result.scalars()]


def why_not(reminder: Lembrete, ag: Agendamento, now: datetime) -> str | None:
    """The reason a due reminder must not be sent now, or None to send it."""
    if ag.status != "pendente":
        return f"appointment is {ag.status}"
    if ag.data_agendada != reminder.alvo:
        return "appointment was moved"
    deadline = ag.data_agendada + (START_GRACE if reminder.offset_minutos == 0 else timedelta())
    if now >= deadline:
        return "appointment already started"
    if reminder.tentativas > MAX_TRIES:
        return f"gave up after {MAX_TRIES} interrupted attempts"
    return None


def fire_claimed(
    session: Session, *, ids: list[int], owner: str, settings: Settings, now: datetime
) -> dict[str, int]:
    """Fires the reminders this owner still holds; counts them by outcome.

    The rows are locked (PostgreSQL) or the database is (SQLite) until commit, and a cancel
    or move updates the same rows, so one of the two waits for the other: a reminder is
    either sent before the change or never."""
    stmt = select(Lembrete).where(
        Lembrete.id.in_(ids), Lembrete.lease_owner == owner, Lembrete.status == "agendado"
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    held = list(session.scalars(stmt.execution_options(populate_existing=True)))
    ag_ids = {r.agendamento_id for r in held}
    ags = {
        a.agendamento_id: a
        for a in session.scalars(select(Agendamento).where(Agendamento.agendamento_id.in_(ag_ids)))
    }
    leads = {
        lead.lead_id: lead
        for lead in session.scalars(
            select(Lead).where(Lead.lead_id.in_({a.lead_id for a in ags.values()}))
        )
    }
    counts = {"enviado": 0, "pulado": 0}
    for reminder in held:
        ag = ags[reminder.agendamento_id]
        reason = why_not(reminder, ag, now)
        fired = reminders.Fired("pulado", reason)
        if reason is None:
            try:
                with session.begin_nested():
                    fired = reminders.fire(
                        session, reminder=reminder, ag=ag, lead=leads[ag.lead_id], settings=settings
                    )
            except CarteiroError as exc:
                fired = reminders.Fired("pulado", exc.message)
        reminder.status = fired.status
        reminder.motivo = fired.motivo
        reminder.email_id = fired.email_id
        reminder.fired_at = now
        reminder.lease_owner = None
        reminder.lease_until = None
        reminders.record_outcome(session, ag, reminder, fired)
        metrics.REMINDERS_FIRED.labels(channel=reminder.channel, status=fired.status).inc()
        counts[fired.status] += 1
    return counts


def run_once(
    db: Database,
    settings: Settings,
    *,
    owner: str,
    clock: Clock = utcnow,
    limit: int | None = None,
) -> int:
    """One round: claim a batch (one short transaction), fire it (another); returns how many
    were claimed."""
    batch = limit or settings.appointment_batch_size
    with db.session() as session:
        ids = claim(
            session, owner=owner, lease_seconds=settings.lease_seconds, limit=batch, now=clock()
        )
    if not ids:
        return 0
    with db.session() as session:
        fire_claimed(session, ids=ids, owner=owner, settings=settings, now=clock())
    return len(ids)


def run_due(db: Database, settings: Settings, *, owner: str, clock: Clock = utcnow) -> int:
    """Rounds until nothing is due; for tests and the CLI."""
    total = 0
    while True:
        done = run_once(db, settings, owner=owner, clock=clock)
        total += done
        if done == 0:
            return total


async def reminder_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """Fires due reminders until `stop` is set; safe in any number of processes."""
    owner = leases.worker_id()
    settings = runtime.settings

    async def round_() -> bool:
        done = await anyio.to_thread.run_sync(lambda: run_once(runtime.db, settings, owner=owner))
        return done >= settings.appointment_batch_size

    log.info("appointment reminder loop %s started", owner)
    await run_every(
        stop,
        settings.appointment_poll_interval,
        round_,
        error="appointment reminder round failed",
        logger=log,
    )
