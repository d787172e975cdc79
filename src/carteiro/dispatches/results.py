"""A provider's answer written back to its dispatch, fenced by this worker's lease."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.config import Settings
from carteiro.dispatches import contact, lifecycle
from carteiro.dispatches.models import Disparo
from carteiro.events import outbox
from carteiro.loops import Backoff
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp import throttle
from carteiro.whatsapp.provider import ErrorClass, SendResult


def lock(session: Session, ids: list[int]) -> dict[int, Disparo]:
    """A batch's dispatches, locked in one statement (in id order, as every locker takes
    them) and read fresh: a webhook or a cancel may have moved them since they were planned."""
    stmt = (
        select(Disparo)
        .where(Disparo.disparo_id.in_(ids))
        .order_by(Disparo.disparo_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {d.disparo_id: d for d in session.scalars(stmt)}


def apply(
    session: Session,
    *,
    d: Disparo | None,
    result: SendResult,
    sent_as: str,
    worker_id: str,
    settings: Settings,
    now: datetime,
) -> str:
    """Records one outcome on `d` (locked by `lock`); returns what happened ('sent',
    'retry', 'erro', 'lost', ...)."""
    if d is None or d.lease_owner != worker_id or d.status != "pendente":
        return "lost"
    if result.accepted:
        lifecycle.mark_sent(
            session,
            d,
            message_id=result.message_id,
            recipient_id=result.recipient_id,
            sent_as=sent_as,
            at=now,
        )
        detail = {"message_id": result.message_id, "wa_id": result.recipient_id, "as": sent_as}
        if result.provider_status:
            detail["provider_status"] = result.provider_status
        lifecycle.record(session, d, "enviado", detail)
        return "sent"
    err = result.error
    assert err is not None
    if err.cls == ErrorClass.AMBIGUOUS:
        d.inflight_at = None
        d.lease_owner = d.lease_until = None
        d.awaiting_until = now + timedelta(seconds=settings.whatsapp_ambiguous_wait_seconds)
        d.run_at = d.awaiting_until
        d.error_class, d.error_code, d.mensagem_erro = err.cls.value, err.code, err.message
        lifecycle.record(
            session, d, "ambiguo", {"motivo": err.message, "ate": d.run_at.isoformat()}
        )
        return "ambiguous"
    if err.cls == ErrorClass.WINDOW_CLOSED and sent_as == "text":
        fallback_to_template(session, d, now=now, code=err.code)
        return "fallback"
    if err.cls == ErrorClass.ACCOUNT and d.whatsapp_number_id is not None:
        until = now + timedelta(seconds=settings.whatsapp_breaker_seconds)
        reason = f"provider error {err.code}: {err.message}"
        whatsapp.pause(session, number_id=d.whatsapp_number_id, reason=reason, until=until)
        outbox.emit(
            session,
            tenant_id=d.tenant_id,
            type="whatsapp_number_paused",
            payload={
                "number_id": d.whatsapp_number_id,
                "reason": reason,
                "until": until.isoformat(),
            },
        )
        # The number's fault, not the message's: this attempt does not count.
        d.tentativas -= 1
        lifecycle.retry_later(
            session, d, at=until, error_class=err.cls.value, code=err.code, message=err.message
        )
        return "paused"
    if err.code in throttle.CODES and d.whatsapp_number_id is not None:
        # Meta says the number sends too fast: slower for a while, not just a retry.
        slower = throttle.slow_down(session, number_id=d.whatsapp_number_id, now=now)
        if slower is not None:
            lifecycle.record(session, d, "ritmo_reduzido", {"por_segundo": round(slower, 3)})
    if err.cls.retryable and d.tentativas < d.max_tentativas:
        backoff = Backoff(
            base=settings.dispatch_retry_base_seconds, cap=settings.dispatch_retry_max_seconds
        )
        wait = min(
            max(backoff.delay(d.tentativas), err.retry_after or 0.0),
            max(settings.dispatch_retry_max_seconds, err.retry_after or 0.0),
        )
        lifecycle.retry_later(
            session,
            d,
            at=now + timedelta(seconds=wait),
            error_class=err.cls.value,
            code=err.code,
            message=err.message,
        )
        return "retry"
    if err.cls == ErrorClass.OPT_OUT:
        contact.add_do_not_contact(
            session, tenant_id=d.tenant_id, value=d.destino, source="whatsapp", reason=err.message
        )
    lifecycle.fail(
        session,
        d,
        error_class=err.cls.value,
        code=err.code,
        message=err.message or err.code,
        now=now,
        dead_letter_days=settings.dispatch_dead_letter_days,
    )
    return "erro"


def fallback_to_template(session: Session, d: Disparo, *, now: datetime, code: str | None) -> None:
    """Free text refused outside the 24 h window: the same dispatch goes again as its template
    (the attempt budget is kept: the text never reached the person)."""
    d.status = "pendente"
    d.sent_as = "template"
    d.run_at = now
    d.tentativas = max(0, d.tentativas - 1)
    d.provider_message_id = None
    d.inflight_at = d.awaiting_until = None
    d.lease_owner = d.lease_until = None
    lifecycle.record(session, d, "fallback_template", {"code": code})
