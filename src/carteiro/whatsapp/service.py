"""WhatsApp numbers and templates per tenant, the 24 h windows, send slots and the breaker."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.accounts.vault import Vault
from carteiro.db.types import utcnow
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.whatsapp import throttle
from carteiro.whatsapp.models import WhatsAppNumber, WhatsAppTemplate, WhatsAppWindow
from carteiro.whatsapp.schemas import NumberCreate, NumberPublic, TemplateCreate, TemplatePublic

WINDOW = timedelta(hours=24)
# Judge the window a little short: a message accepted at 23:59 may be processed after 24:00.
WINDOW_MARGIN = timedelta(minutes=3)


def create_number(
    session: Session,
    *,
    tenant_id: int,
    data: NumberCreate,
    vault: Vault,
    evolution_enabled: bool,
) -> WhatsAppNumber:
    if data.provider == "evolution" and not evolution_enabled:
        raise InvalidInput(
            "the Evolution gateway is off: set CARTEIRO_WHATSAPP_EVOLUTION_ENABLED=true after "
            "reading the README on its ban risk",
            field="provider",
        )
    if data.provider == "evolution" and not data.base_url:
        raise InvalidInput("an Evolution instance needs its base_url", field="base_url")
    if data.provider == "cloud" and not (data.app_secret and data.verify_token):
        raise InvalidInput(
            "a Cloud API number needs app_secret (webhook signatures) and verify_token",
            field="app_secret" if not data.app_secret else "verify_token",
        )
    number = WhatsAppNumber(
        tenant_id=tenant_id,
        name=data.name,
        provider=data.provider,
        phone_number_id=data.phone_number_id,
        display_phone=data.display_phone,
        base_url=data.base_url,
        token_enc=vault.encrypt(data.token),
        app_secret_enc=vault.encrypt(data.app_secret) if data.app_secret else None,
        verify_token_enc=vault.encrypt(data.verify_token) if data.verify_token else None,
        rate_per_second=data.rate_per_second,
        pair_interval_seconds=data.pair_interval_seconds,
        fallback_template=data.fallback_template,
        status="active",
    )
    try:
        with session.begin_nested():
            session.add(number)
            session.flush()
    except IntegrityError:
        raise Conflict(f"a number named {data.name} exists", field="name") from None
    return number


def list_numbers(session: Session, *, tenant_id: int) -> list[WhatsAppNumber]:
    stmt = select(WhatsAppNumber).where(WhatsAppNumber.tenant_id == tenant_id)
    return list(session.scalars(stmt.order_by(WhatsAppNumber.id)))


def get_number_or_raise(session: Session, *, tenant_id: int, ref: str | int) -> WhatsAppNumber:
    stmt = select(WhatsAppNumber).where(WhatsAppNumber.tenant_id == tenant_id)
    if isinstance(ref, int) or str(ref).isdigit():
        stmt = stmt.where(WhatsAppNumber.id == int(ref))
    else:
        stmt = stmt.where(WhatsAppNumber.name == ref)
    number = session.scalar(stmt)
    if number is None:
        raise NotFound(f"WhatsApp number {ref} not found", field="number")
    return number


def default_number(session: Session, *, tenant_id: int) -> WhatsAppNumber | None:
    """The tenant's first number, the one dispatches use unless told otherwise."""
    stmt = select(WhatsAppNumber).where(WhatsAppNumber.tenant_id == tenant_id)
    return session.scalar(stmt.order_by(WhatsAppNumber.id).limit(1))


def number_public(number: WhatsAppNumber, *, now: datetime | None = None) -> NumberPublic:
    return NumberPublic(
        id=number.id,
        name=number.name,
        provider=number.provider,
        phone_number_id=number.phone_number_id,
        display_phone=number.display_phone,
        base_url=number.base_url,
        rate_per_second=number.rate_per_second,
        pair_interval_seconds=number.pair_interval_seconds,
        status=number.status,
        paused_reason=number.paused_reason,
        paused_until=number.paused_until,
        fallback_template=number.fallback_template,
        webhook_path=f"/webhooks/whatsapp/{number.provider}/{number.id}",
        current_rate_per_second=throttle.rate(number, now or utcnow()),
        throttled_at=number.throttled_at,
    )


def create_template(session: Session, *, tenant_id: int, data: TemplateCreate) -> WhatsAppTemplate:
    template = WhatsAppTemplate(
        tenant_id=tenant_id,
        name=data.name,
        language=data.language,
        category=data.category,
        param_format=data.param_format,
        params=[p.model_dump() for p in data.params],
        body=data.body,
    )
    try:
        with session.begin_nested():
            session.add(template)
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"template {data.name} ({data.language}) is already registered", field="name"
        ) from None
    return template


def list_templates(session: Session, *, tenant_id: int) -> list[WhatsAppTemplate]:
    stmt = select(WhatsAppTemplate).where(WhatsAppTemplate.tenant_id == tenant_id)
    return list(session.scalars(stmt.order_by(WhatsAppTemplate.name)))


def find_template(
    session: Session, *, tenant_id: int, name: str, language: str | None = None
) -> WhatsAppTemplate | None:
    stmt = select(WhatsAppTemplate).where(
        WhatsAppTemplate.tenant_id == tenant_id, WhatsAppTemplate.name == name
    )
    if language:
        stmt = stmt.where(WhatsAppTemplate.language == language)
    return session.scalar(stmt.order_by(WhatsAppTemplate.language != "pt_BR").limit(1))


def template_public(t: WhatsAppTemplate) -> TemplatePublic:
    return TemplatePublic(
        id=t.id,
        name=t.name,
        language=t.language,
        category=t.category,
        param_format=t.param_format,
        params=list(t.params),
        body=t.body,
    )


def window_open(session: Session, *, number_id: int, wa_id: str, now: datetime) -> bool:
    last = session.scalar(
        select(WhatsAppWindow.last_inbound_at).where(
            WhatsAppWindow.number_id == number_id, WhatsAppWindow.wa_id == wa_id
        )
    )
    return last is not None and now < last + WINDOW - WINDOW_MARGIN


def open_window(
    session: Session, *, tenant_id: int, number_id: int, wa_id: str, at: datetime
) -> None:
    """The person wrote at `at`: the window runs 24 h from their latest message."""
    row = session.get(WhatsAppWindow, (number_id, wa_id))
    if row is None:
        session.add(
            WhatsAppWindow(
                number_id=number_id, wa_id=wa_id, tenant_id=tenant_id, last_inbound_at=at
            )
        )
    elif row.last_inbound_at < at:
        row.last_inbound_at = at
    session.flush()


def reserve_slots(
    session: Session,
    *,
    number_id: int,
    count: int,
    min_interval: float,
    now: datetime,
    horizon: float,
) -> list[datetime]:
    """Send times for up to `count` messages on a number within `horizon` seconds, never
    closer than its rate allows, in any number of processes: the number's row is locked and
    its next free slot moved forward. Fewer slots than asked when the horizon is full."""
    stmt = select(WhatsAppNumber).where(WhatsAppNumber.id == number_id)
    number = session.scalar(stmt.with_for_update())
    if number is None or count <= 0:
        return []
    step = max(1.0 / throttle.rate(number, now), min_interval)
    start = max(now, number.next_slot_at or now)
    room = int((horizon - (start - now).total_seconds()) / step) + 1
    count = max(0, min(count, room))
    slots = [start + timedelta(seconds=i * step) for i in range(count)]
    number.next_slot_at = start + timedelta(seconds=count * step)
    session.flush()
    return slots


def pause(session: Session, *, number_id: int, reason: str, until: datetime) -> None:
    """Opens the number's circuit: nothing is sent through it until `until` (or a resume)."""
    session.execute(
        update(WhatsAppNumber)
        .where(WhatsAppNumber.id == number_id)
        .values(status="paused", paused_reason=reason[:1000], paused_until=until),
        execution_options={"synchronize_session": False},
    )


def resume(session: Session, *, tenant_id: int, ref: str | int) -> WhatsAppNumber:
    number = get_number_or_raise(session, tenant_id=tenant_id, ref=ref)
    number.status, number.paused_reason, number.paused_until = "active", None, None
    session.flush()
    return number


def usable(number: WhatsAppNumber, now: datetime) -> bool:
    """Active, or paused with the pause over (a half-open breaker lets the next send try)."""
    return number.status == "active" or (
        number.paused_until is not None and number.paused_until <= now
    )


def pause_until(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
