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

from carteiro.appointments import log as history
from carteiro.appointments import metrics, reminders
from carteiro.appointments.models import Agendamento, Lembrete
from carteiro.config import Settings
from carteiro.db import leases
from carteiro.db.claims import claim_rows
from carteiro.db.engine import Database
from carteiro.db.types import utcnow
from carteiro.leads.models import Lead
from carteiro.loops import wait_or_stop
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
    outcomes: dict[int, reminders.Fired] = {}
    due: list[reminders.Due] = []
    for reminder in held:
        ag = ags[reminder.agendamento_id]
        reason = why_not(reminder, ag, now)
        if reason is None:
            due.append(reminders.Due(reminder, ag, leads[ag.lead_id]))
        else:
            outcomes[reminder.id] = reminders.Fired("pulado", reason)
    if due:
        fired = reminders.fire(session, due=due, settings=settings)
        outcomes.update({d.reminder.id: f for d, f in zip(due, fired, strict=True)})
    entries = []
    for reminder in held:
        result = outcomes[reminder.id]
        reminder.status = result.status
        reminder.motivo = result.motivo
        reminder.email_id = result.email_id
        reminder.fired_at = now
        reminder.lease_owner = None
        reminder.lease_until = None
        entries.append((ags[reminder.agendamento_id], *reminders.outcome_entry(reminder, result)))
        metrics.REMINDERS_FIRED.labels(channel=reminder.channel, status=result.status).inc()
        counts[result.status] += 1
    history.record_many(session, entries, ator="agendamentos")
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


def next_due(db: Database) -> datetime | None:
    """When the soonest waiting reminder falls due (an index range's first row)."""
    with db.session() as session:
        return session.scalar(
            select(Lembrete.due_at)
            .where(Lembrete.status == "agendado")
            .order_by(Lembrete.due_at)
            .limit(1)
        )


def pause_before(soonest: datetime | None, *, now: datetime, interval: float) -> float:
    """Seconds to wait: the poll interval, or less when a reminder falls due sooner."""
    if soonest is None:
        return interval
    return max(0.0, min(interval, (soonest - now).total_seconds()))


async def reminder_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """Fires due reminders until `stop` is set; safe in any number of processes.

    Between rounds it sleeps until the soonest reminder is due (never longer than the poll
    interval, so reminders booked meanwhile wait at most that long)."""
    owner = leases.worker_id()
    settings = runtime.settings
    interval = settings.appointment_poll_interval

    def round_() -> float:
        done = run_once(runtime.db, settings, owner=owner)
        if done >= settings.appointment_batch_size:
            return 0.0  # more are waiting
        return pause_before(next_due(runtime.db), now=utcnow(), interval=interval)

    log.info("appointment reminder loop %s started", owner)
    while not stop.is_set():
        pause = interval
        try:
            pause = await anyio.to_thread.run_sync(round_)
        except Exception:
            log.exception("appointment reminder round failed")
        if pause > 0:
            await wait_or_stop(stop, pause)
