"""The seed's alarm: more than 10% of a tenant's dispatches on a channel failing in the last
hour raises a `dispatch_failure_rate` webhook event (at most once an hour per channel) and
shows on the dashboard while it lasts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.dispatches.models import Disparo
from carteiro.events import outbox
from carteiro.events.models import OutboxEvent

THRESHOLD = 0.10
# Below this many finished dispatches in the hour a rate means little.
MIN_FINISHED = 20
WINDOW = timedelta(hours=1)
TYPE = "dispatch_failure_rate"


@dataclass(frozen=True)
class Rate:
    canal: str
    finished: int
    failed: int

    @property
    def value(self) -> float:
        return self.failed / self.finished if self.finished else 0.0

    @property
    def alarming(self) -> bool:
        return self.finished >= MIN_FINISHED and self.value > THRESHOLD


def alarming(session: Session, *, tenant_id: int, now: datetime) -> list[Rate]:
    """The channels above the threshold right now (what the dashboard shows)."""
    return [r for r in rates(session, tenant_id=tenant_id, now=now) if r.alarming]


def rates(session: Session, *, tenant_id: int, now: datetime) -> list[Rate]:
    """Per channel: dispatches finished (sent or failed) in the last hour, and failed."""
    stmt = (
        select(Disparo.canal, Disparo.status, func.count())
        .where(
            Disparo.tenant_id == tenant_id,
            Disparo.updated_at > now - WINDOW,
            Disparo.status.in_(("enviado", "confirmado", "erro")),
        )
        .group_by(Disparo.canal, Disparo.status)
    )
    totals: dict[str, list[int]] = {}
    for canal, status, count in session.execute(stmt):
        pair = totals.setdefault(canal, [0, 0])
        pair[0] += count
        if status == "erro":
            pair[1] += count
    return [Rate(canal, f, e) for canal, (f, e) in sorted(totals.items())]


def check(session: Session, *, tenant_id: int, canal: str, now: datetime) -> bool:
    """Emits the alarm if the channel's rate crossed the threshold and none was sent this hour."""
    rate = next((r for r in rates(session, tenant_id=tenant_id, now=now) if r.canal == canal), None)
    if rate is None or not rate.alarming:
        return False
    # Once an hour per channel: e-mail failing does not hide WhatsApp failing after it.
    recent = session.scalars(
        select(OutboxEvent.payload).where(
            OutboxEvent.tenant_id == tenant_id,
            OutboxEvent.type == TYPE,
            OutboxEvent.created_at > now - WINDOW,
        )
    )
    if any((payload or {}).get("canal") == canal for payload in recent):
        return False
    outbox.emit(
        session,
        tenant_id=tenant_id,
        type=TYPE,
        payload={
            "canal": canal,
            "failed": rate.failed,
            "finished": rate.finished,
            "rate": round(rate.value, 4),
            "threshold": THRESHOLD,
        },
    )
    return True
