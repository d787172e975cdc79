"""Fans new events out to webhook deliveries past a durable cursor.

Message events come from the outbound queue's own `email_events` table (the send path writes
them in its transactions anyway); other events from `outbox_events`. Ids are read past a
cursor; on PostgreSQL a lower id can commit after a higher one, so skipped ids are kept as
"holes" and looked for again until they appear or a grace period ends."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.db import leases as leader
from carteiro.db import upsert
from carteiro.db.leases import SchedulerLease
from carteiro.db.types import utcnow
from carteiro.events.models import OutboxEvent
from carteiro.outbound.models import Email, EmailEvent
from carteiro.webhooks.models import Webhook, WebhookDelivery

STATE = "webhooks"
HOLE_GRACE_SECONDS = 300.0
MAX_HOLES = 10_000
# email_events types → webhook event types; the rest (cancelled, …) are not sent.
EMAIL_EVENT_TYPES = {
    "queued": "queued",
    "held": "held",
    "sent": "sent",
    "deferred": "deferred",
    "failed": "failed",
    "dead": "dead",
    "bounce_hard": "bounced",
    "bounce_soft": "bounced",
    "complained": "complained",
    "complaint": "complained",
}
_SOURCES: dict[str, type[EmailEvent] | type[OutboxEvent]] = {
    "email": EmailEvent,
    "outbox": OutboxEvent,
}


class FanOut(NamedTuple):
    created: int
    backlog: bool


def _max_ids(session: Session) -> dict[str, dict[str, Any]]:
    return {
        name: {"cursor": session.scalar(select(func.max(model.id))) or 0, "holes": {}}
        for name, model in _SOURCES.items()
    }


def ensure_cursor(session: Session) -> None:
    """Starts the cursors at the newest events if they do not exist yet."""
    if session.get(SchedulerLease, STATE) is not None:
        return
    session.execute(
        upsert.insert(session, SchedulerLease)
        .values(name=STATE, state=_max_ids(session), updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )


def _read(
    session: Session, name: str, cursor: dict[str, Any], batch: int, now: float, grace: float
) -> list[Any]:
    model = _SOURCES[name]
    start = int(cursor["cursor"])
    holes: dict[str, float] = dict(cursor.get("holes") or {})
    rows = list(
        session.execute(
            select(model.id, model.tenant_id, model.type, model.created_at)
            .where(model.id > start)
            .order_by(model.id)
            .limit(batch)
        )
    )
    if holes:
        rows += list(
            session.execute(
                select(model.id, model.tenant_id, model.type, model.created_at).where(
                    model.id.in_([int(h) for h in holes])
                )
            )
        )
    seen = {r.id for r in rows}
    for hole in [h for h in holes if int(h) in seen or now - holes[h] > grace]:
        del holes[hole]
    top = max((r.id for r in rows if r.id > start), default=start)
    missing = (i for i in range(start + 1, top) if i not in seen)
    for index in missing:
        if len(holes) >= MAX_HOLES:
            break
        holes[str(index)] = now
    cursor["cursor"], cursor["holes"] = top, holes
    return rows


def _hooks(session: Session) -> dict[int, list[tuple[int, set[str], Any]]]:
    found: dict[int, list[tuple[int, set[str], Any]]] = {}
    for hook_id, tenant_id, events, created_at in session.execute(
        select(Webhook.id, Webhook.tenant_id, Webhook.events, Webhook.created_at).where(
            Webhook.active.is_(True)
        )
    ):
        found.setdefault(tenant_id, []).append((hook_id, set(events), created_at))
    return found


def approval_url(public_url: str | None, email_id: int) -> str:
    """The console page where a person approves (or cancels) a held message."""
    path = f"/ui/outbox/{email_id}"
    return f"{public_url.rstrip('/')}{path}" if public_url else path


def _email_payloads(
    session: Session, ids: list[int], public_url: str | None = None
) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = session.execute(
        select(
            EmailEvent.id,
            EmailEvent.tenant_id,
            EmailEvent.type,
            EmailEvent.detail,
            EmailEvent.created_at,
            Email.id.label("email_id"),
            Email.message_id,
            Email.to_emails,
            Email.subject,
            Email.status,
        )
        .join(Email, Email.id == EmailEvent.email_id)
        .where(EmailEvent.id.in_(ids))
    )
    events = []
    for r in rows:
        if r.type == "held" and r.status != "held":
            continue  # approved (or cancelled) before anyone could be told it waits
        data: dict[str, Any] = {
            "email_id": r.email_id,
            "message_id": r.message_id,
            "to": list(r.to_emails or []),
            "subject": r.subject,
            **(r.detail or {}),
        }
        if r.type.startswith("bounce_"):
            data["bounce"] = r.type.removeprefix("bounce_")
        if r.type == "held":
            # A relative path when CARTEIRO_PUBLIC_URL is unset: the receiver knows the host.
            data["approve_url"] = approval_url(public_url, r.email_id)
        events.append(
            {
                "tenant_id": r.tenant_id,
                "event_id": f"em_{r.id}",
                "type": EMAIL_EVENT_TYPES[r.type],
                "created_at": r.created_at,
                "data": data,
            }
        )
    return events


def _outbox_payloads(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(ids)))
    return [
        {
            "tenant_id": r.tenant_id,
            "event_id": f"ev_{r.id}",
            "type": r.type,
            "created_at": r.created_at,
            "data": dict(r.payload),
        }
        for r in rows
    ]


def fan_out(
    session: Session,
    *,
    owner: str,
    batch: int = 500,
    lease_seconds: float = 30.0,
    grace: float = HOLE_GRACE_SECONDS,
    public_url: str | None = None,
) -> FanOut:
    """Turns new events into webhook deliveries; says how many it created and whether a full
    batch was read (more events are waiting).

    Runs in the caller's transaction, only where this process leads the job: cursors and
    deliveries commit together, so an event is fanned out exactly once."""
    if not leader.try_lead(session, name=STATE, owner=owner, ttl=lease_seconds):
        return FanOut(0, False)
    ensure_cursor(session)
    stmt = select(SchedulerLease).where(SchedulerLease.name == STATE)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.scalars(stmt.execution_options(populate_existing=True)).one()
    newest = _max_ids(
        session
    )  # read before the webhooks, so a hook created meanwhile misses nothing
    hooks = _hooks(session)
    if not hooks:
        # Nobody listens: skip straight to the newest events instead of reading them.
        row.state = newest
        session.flush()
        return FanOut(0, False)
    state = {k: dict(v) for k, v in (row.state or _max_ids(session)).items()}
    now = time.time()
    wanted: dict[str, list[int]] = {}
    backlog = False
    for name in _SOURCES:
        cursor = state.setdefault(name, {"cursor": 0, "holes": {}})
        start = cursor["cursor"]
        rows = _read(session, name, cursor, batch, now, grace)
        backlog = backlog or sum(r.id > start for r in rows) >= batch
        for r in rows:
            kind = EMAIL_EVENT_TYPES.get(r.type) if name == "email" else r.type
            subscribed = any(kind in events for _, events, _ in hooks.get(r.tenant_id, ()))
            if kind is not None and subscribed:
                wanted.setdefault(name, []).append(r.id)
    events = _email_payloads(session, wanted.get("email", []), public_url) + _outbox_payloads(
        session, wanted.get("outbox", [])
    )
    deliveries = []
    for event in events:
        for hook_id, types, created_at in hooks.get(event["tenant_id"], ()):
            if event["type"] not in types or event["created_at"] < created_at:
                continue
            deliveries.append(
                {
                    "tenant_id": event["tenant_id"],
                    "webhook_id": hook_id,
                    "event_id": event["event_id"],
                    "event_type": event["type"],
                    "payload": {
                        "id": event["event_id"],
                        "type": event["type"],
                        "created_at": event["created_at"].isoformat(),
                        "data": event["data"],
                    },
                    "status": "pending",
                    "attempts": 0,
                    "run_at": utcnow(),
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
            )
    if deliveries:
        session.execute(
            upsert.insert(session, WebhookDelivery).on_conflict_do_nothing(
                index_elements=["webhook_id", "event_id"]
            ),
            deliveries,
        )
    row.state = state
    session.flush()
    return FanOut(len(deliveries), backlog)
