"""Processing stored WhatsApp webhooks: statuses move dispatches, inbound messages open the
window and join the lead's timeline, opt-out keywords and preferences stop contact at once."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.config import Settings
from carteiro.db import leases
from carteiro.db.claims import claim_rows
from carteiro.db.types import utcnow
from carteiro.dispatches import contact, lifecycle, metrics, records, results
from carteiro.dispatches.models import Disparo, DoNotContact
from carteiro.dispatches.records import Fresh
from carteiro.leads.models import LeadTelefone
from carteiro.leads.normalize import normalise_phone
from carteiro.loops import run_every
from carteiro.runtime import Runtime
from carteiro.whatsapp import errors as wa_errors
from carteiro.whatsapp import events, service
from carteiro.whatsapp.models import WhatsAppInbound, WhatsAppWebhook
from carteiro.whatsapp.provider import ErrorClass

log = logging.getLogger("carteiro.whatsapp")
BATCH = 200
# Events applied in one transaction at most (see `_groups`).
GROUP_EVENTS = 500


def e164_of(wa_id: str) -> str:
    """WhatsApp ids drop the '+' and, for old Brazilian accounts, the ninth digit."""
    found = normalise_phone("+" + wa_id.lstrip("+"))
    return found[0] if found else "+" + wa_id.lstrip("+")


def _keywords(settings: Settings) -> set[str]:
    return {_fold(k) for k in settings.whatsapp_optout_keywords.split(",") if k.strip()}


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.upper().split()).strip(" .!")


# A batch's dispatches by (tenant, provider message id), read in one statement.
Known = dict[tuple[int, str], Disparo]


def _find(
    session: Session, tenant_id: int, ev: events.StatusEvent, known: Known | None = None
) -> Disparo | None:
    if known is not None and (d := known.get((tenant_id, ev.message_id))) is not None:
        return d
    stmt = select(Disparo).where(Disparo.tenant_id == tenant_id)
    d = session.scalar(stmt.where(Disparo.provider_message_id == ev.message_id).limit(1))
    if d is None and ev.correlation:
        d = session.scalar(stmt.where(Disparo.correlation == ev.correlation))
    return d


def _first_time(session: Session, d: Disparo, ev: events.StatusEvent, fresh: Fresh | None) -> bool:
    """Whether this status is news for the dispatch (recorded now, or by the batch)."""
    found = fresh.first_time((d.disparo_id, records.key(ev))) if fresh is not None else None
    if found is not None:
        return found
    return lifecycle.record(
        session, d, f"wa_{ev.status}", records.detail(ev), dedupe_key=records.key(ev)
    )


def apply_status(
    session: Session,
    *,
    tenant_id: int,
    ev: events.StatusEvent,
    settings: Settings,
    known: Known | None = None,
    fresh: Fresh | None = None,
) -> None:
    d = _find(session, tenant_id, ev, known)
    if d is None or not _first_time(session, d, ev, fresh):
        return
    if d.provider_message_id is None and d.status == "pendente":
        # The webhook that settles an ambiguous attempt: the message did leave.
        lifecycle.mark_sent(
            session,
            d,
            message_id=ev.message_id,
            recipient_id=ev.recipient_id,
            sent_as=None,
            at=ev.at,
        )
        metrics.observe(tenant_id=d.tenant_id, canal="whatsapp", outcome="sent")
    if ev.status in ("delivered", "read", "played"):
        lifecycle.mark_confirmed(session, d, at=ev.at)
    elif ev.status == "failed" and d.status in ("pendente", "enviado"):
        code = ev.error_code or 0
        cls = wa_errors.classify(code)
        if cls == ErrorClass.WINDOW_CLOSED and d.sent_as == "text":
            results.fallback_to_template(session, d, now=utcnow(), code=str(code))
            return
        if cls == ErrorClass.OPT_OUT:
            contact.add_do_not_contact(
                session, tenant_id=d.tenant_id, value=d.destino, source="whatsapp"
            )
        lifecycle.fail(
            session,
            d,
            error_class=cls.value,
            code=str(code),
            message=ev.error_message or f"WhatsApp error {code}",
            now=utcnow(),
            dead_letter_days=settings.dispatch_dead_letter_days,
        )
        metrics.observe(tenant_id=d.tenant_id, canal="whatsapp", outcome="erro")


def _lead_of(session: Session, tenant_id: int, phone: str) -> int | None:
    stmt = select(LeadTelefone.lead_id).where(
        LeadTelefone.tenant_id == tenant_id, LeadTelefone.telefone == phone
    )
    return session.scalar(stmt.limit(1))


def opt_out(session: Session, *, tenant_id: int, phone: str, source: str, reason: str) -> None:
    contact.add_do_not_contact(
        session, tenant_id=tenant_id, value=phone, source=source, reason=reason
    )
    # Pending dispatches to the number stop now, not at their next attempt.
    session.execute(
        update(Disparo)
        .where(
            Disparo.tenant_id == tenant_id,
            Disparo.destino == phone,
            Disparo.status == "pendente",
            Disparo.inflight_at.is_(None),
            or_(Disparo.lease_until.is_(None), Disparo.lease_until < utcnow()),
        )
        .values(status="cancelado", mensagem_erro=f"opted out ({reason})", data_retorno=utcnow()),
        execution_options={"synchronize_session": False},
    )


def apply_inbound(
    session: Session, *, row: WhatsAppWebhook, ev: events.InboundEvent, settings: Settings
) -> None:
    phone = e164_of(ev.wa_id)
    lead_id = _lead_of(session, row.tenant_id, phone)
    message = WhatsAppInbound(
        tenant_id=row.tenant_id,
        number_id=row.number_id,
        lead_id=lead_id,
        wa_id=ev.wa_id,
        wamid=ev.message_id,
        text=ev.text,
        sent_at=ev.at,
    )
    try:
        with session.begin_nested():
            session.add(message)
            session.flush()
    except IntegrityError:
        return  # a redelivery
    service.open_window(
        session, tenant_id=row.tenant_id, number_id=row.number_id, wa_id=ev.wa_id, at=ev.at
    )
    if ev.text and _fold(ev.text) in _keywords(settings):
        opt_out(
            session, tenant_id=row.tenant_id, phone=phone, source="whatsapp_keyword", reason=ev.text
        )


def apply_preference(session: Session, *, tenant_id: int, ev: events.PreferenceEvent) -> None:
    phone = e164_of(ev.wa_id)
    if ev.value == "stop":
        opt_out(
            session, tenant_id=tenant_id, phone=phone, source="whatsapp_preferences", reason="stop"
        )
        return
    session.execute(
        delete(DoNotContact).where(
            DoNotContact.tenant_id == tenant_id,
            DoNotContact.value == phone,
            DoNotContact.source == "whatsapp_preferences",
        )
    )


def _parse(row: WhatsAppWebhook) -> list[events.Event] | None:
    try:
        return events.parse(row.provider, bytes(row.raw))
    except (ValueError, AttributeError, TypeError) as exc:
        row.error = f"unreadable body: {exc}"[:1000]
        return None


def _known(session: Session, parsed: list[tuple[WhatsAppWebhook, list[events.Event]]]) -> Known:
    """The dispatches the batch's statuses name, in one query instead of one per status."""
    ids = {
        ev.message_id
        for _, evs in parsed
        for ev in evs
        if isinstance(ev, events.StatusEvent) and ev.message_id
    }
    if not ids:
        return {}
    stmt = select(Disparo).where(Disparo.provider_message_id.in_(ids))
    return {
        (d.tenant_id, d.provider_message_id): d
        for d in session.scalars(stmt)
        if d.provider_message_id is not None
    }


def _record_all(
    session: Session, parsed: list[tuple[WhatsAppWebhook, list[events.Event]]], known: Known
) -> Fresh:
    """The batch's statuses for dispatches it knows, recorded in one statement up front."""
    statuses = [
        (d, ev)
        for row, evs in parsed
        for ev in evs
        if isinstance(ev, events.StatusEvent)
        and (d := known.get((row.tenant_id, ev.message_id))) is not None
    ]
    return records.record_all(session, statuses, now=utcnow())


def process(
    session: Session,
    row: WhatsAppWebhook,
    settings: Settings,
    parsed: list[events.Event] | None = None,
    known: Known | None = None,
    fresh: Fresh | None = None,
) -> None:
    if parsed is None:
        parsed = _parse(row)
        if parsed is None:
            return
    for ev in parsed:
        if isinstance(ev, events.StatusEvent):
            apply_status(
                session, tenant_id=row.tenant_id, ev=ev, settings=settings, known=known, fresh=fresh
            )
        elif isinstance(ev, events.InboundEvent):
            apply_inbound(session, row=row, ev=ev, settings=settings)
        else:
            apply_preference(session, tenant_id=row.tenant_id, ev=ev)


Parsed = list[tuple[WhatsAppWebhook, list[events.Event] | None]]


def _read(runtime: Runtime, ids: list[int], worker_id: str) -> Parsed:
    """The claimed bodies, parsed outside any write transaction (on SQLite the writer is
    shared with the bodies being stored)."""
    with runtime.db.reader() as session:
        rows = session.scalars(
            select(WhatsAppWebhook)
            .where(WhatsAppWebhook.id.in_(ids), WhatsAppWebhook.lease_owner == worker_id)
            .order_by(WhatsAppWebhook.id)
        )
        parsed = [(row, _parse(row)) for row in rows]
        session.expunge_all()  # kept readable once the session ends
    return parsed


def _groups(parsed: Parsed) -> Iterator[Parsed]:
    """The bodies in order, in groups of at most `GROUP_EVENTS` events (a body is never
    split): a round of 200 batched bodies in one transaction held SQLite's writer for
    seconds, and every webhook being stored waited for it."""
    group: Parsed = []
    size = 0
    for row, evs in parsed:
        n = len(evs) if evs else 1
        if group and size + n > GROUP_EVENTS:
            yield group
            group, size = [], 0
        group.append((row, evs))
        size += n
    if group:
        yield group


def _apply(runtime: Runtime, group: Parsed, worker_id: str) -> None:
    with runtime.db.session() as session:
        readable = [(row, evs) for row, evs in group if evs is not None]
        known = _known(session, readable)
        fresh = _record_all(session, readable, known)
        for row, evs in readable:
            process(session, row, runtime.settings, evs, known, fresh)
        for row in (row for row, evs in group if evs is None):
            session.execute(
                update(WhatsAppWebhook).where(WhatsAppWebhook.id == row.id).values(error=row.error),
                execution_options={"synchronize_session": False},
            )
        # One statement for the group (an ORM update was one row each).
        session.execute(
            update(WhatsAppWebhook)
            .where(
                WhatsAppWebhook.id.in_([row.id for row, _ in group]),
                WhatsAppWebhook.lease_owner == worker_id,
            )
            .values(processed_at=utcnow(), lease_owner=None, lease_until=None),
            execution_options={"synchronize_session": False},
        )


def process_batch(runtime: Runtime, *, worker_id: str, limit: int = BATCH) -> int:
    now = utcnow()
    with runtime.db.session() as session:
        due = WhatsAppWebhook.processed_at.is_(None) & or_(
            WhatsAppWebhook.lease_until.is_(None), WhatsAppWebhook.lease_until < now
        )
        stmt = (
            claim_rows(
                session,
                WhatsAppWebhook,
                key=WhatsAppWebhook.id,
                where=due,
                order_by=[WhatsAppWebhook.id],
                limit=limit,
            )
            .values(lease_owner=worker_id, lease_until=now + timedelta(seconds=60))
            .returning(WhatsAppWebhook.id)
        )
        ids = sorted(session.scalars(stmt, execution_options={"synchronize_session": False}))
    if not ids:
        return 0
    for group in _groups(_read(runtime, ids, worker_id)):
        _apply(runtime, group, worker_id)
    return len(ids)


def purge_processed(session: Session, *, now: datetime, keep_days: float = 14.0) -> None:
    """Raw webhook bodies are kept as long as the dead-letter list, then dropped."""
    session.execute(
        delete(WhatsAppWebhook).where(
            WhatsAppWebhook.processed_at < now - timedelta(days=keep_days)
        ),
        execution_options={"synchronize_session": False},
    )


async def webhook_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    worker_id = leases.worker_id()

    async def round() -> bool:
        return await asyncio.to_thread(process_batch, runtime, worker_id=worker_id) >= BATCH

    await run_every(
        stop,
        runtime.settings.dispatch_poll_interval,
        round,
        error="WhatsApp webhook round failed",
        logger=log,
    )
