"""Creating and managing outbound messages: validate, compose once, enqueue, cancel, retry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.accounts.vault import vault_for
from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.errors import Conflict, Forbidden, InvalidInput, NotFound
from carteiro.leads import consent, suppression
from carteiro.mail.addresses import parse_addresses
from carteiro.mail.attachments import Attachment
from carteiro.mail.mime import CalendarPart
from carteiro.outbound import enqueue, events, wakeup
from carteiro.outbound import search as outbox_search
from carteiro.outbound.dkim.signers import Signers

# The batch path lives in `enqueue`; callers keep reaching it here.
from carteiro.outbound.enqueue import MAX_BATCH as MAX_BATCH
from carteiro.outbound.enqueue import Queued as Queued
from carteiro.outbound.enqueue import create_batch as create_batch
from carteiro.outbound.enqueue import refusal
from carteiro.outbound.models import (
    LANE_TRANSACTIONAL,
    PRIORITY_NAMES,
    Email,
    EmailAttachment,
    EmailAttempt,
)
from carteiro.outbound.ratelimit import check_hourly_limit
from carteiro.outbound.reroute import resign
from carteiro.outbound.schemas import AttemptPublic, EmailCreate, EmailPage, EmailPublic
from carteiro.tenancy.service import Principal

MAX_PAGE = 500
CAPTURE = "capture"


def _attach_rows(email: Email, attachments: list[Attachment]) -> list[EmailAttachment]:
    return [
        EmailAttachment(
            email_id=email.id,
            filename=a.filename,
            content_type=a.content_type,
            file_size=len(a.data),
        )
        for a in attachments
    ]


def visible_to(principal: Principal) -> list[ColumnElement[bool]]:
    """The messages a key may see: its tenant's, or only its own for restricted keys."""
    where = [Email.tenant_id == principal.tenant_id]
    if principal.own_messages_only and principal.key_id is not None:
        where.append(Email.api_key_id == principal.key_id)
    return where


def find_by_idempotency_key(session: Session, *, principal: Principal, key: str) -> Email | None:
    # Per key: another key of the tenant repeating the same value gets its own message.
    owner = (
        Email.api_key_id.is_(None)
        if principal.key_id is None
        else Email.api_key_id == principal.key_id
    )
    stmt = select(Email).where(
        Email.tenant_id == principal.tenant_id, owner, Email.idempotency_key == key
    )
    return session.scalar(stmt)


def _recipients(data: EmailCreate) -> list[tuple[str, str]]:
    return enqueue.labelled(
        "",
        to_email=parse_addresses(data.to_email, field="to_email"),
        cc_emails=parse_addresses(data.cc_emails, field="cc_emails"),
        bcc_emails=parse_addresses(data.bcc_emails, field="bcc_emails"),
    )


def create(
    session: Session,
    *,
    principal: Principal,
    data: EmailCreate,
    settings: Settings,
    idempotency_key: str | None = None,
    source: str = "api",
    respect_opt_out: bool = False,
    calendar: CalendarPart | None = None,
) -> tuple[Email, bool]:
    """Enqueues one message; returns it and whether it is new (False: idempotent repeat).

    Suppressed recipients are always refused. With `respect_opt_out`, so are addresses that
    opted out (LGPD); callers leave it off only for transactional mail (receipts, resets).
    """
    if idempotency_key is not None:
        if not 0 < len(idempotency_key) <= 255:
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key"
            )
        # Authorise before answering with an earlier message, as a new one would be.
        enqueue.check_recipients(principal, _recipients(data))
        existing = find_by_idempotency_key(session, principal=principal, key=idempotency_key)
        if existing is not None:
            return existing, False
    now = utcnow()
    built = enqueue.build(
        data,
        prefix="",
        principal=principal,
        pool=enqueue.load_pool(session, principal.tenant_id),
        settings=settings,
        now=now,
        source=source,
        lane=LANE_TRANSACTIONAL,
        calendar=calendar,
    )
    check_hourly_limit(
        session,
        principal=principal,
        default_limit=settings.email_rate_limit_per_hour,
        adding=len(built.recipients),
        now=now,
    )
    recipients = built.labelled()
    hits = suppression.is_suppressed(
        session, tenant_id=principal.tenant_id, addresses=built.recipients
    )
    if hits:
        found = [(label, f"{a} ({hits[a]})") for label, a in recipients if a in hits]
        raise InvalidInput(
            refusal(
                found,
                "is on this tenant's suppression list and is never mailed",
                "are on this tenant's suppression list and are never mailed",
            ),
            field=found[0][0],
        )
    if respect_opt_out:
        out = consent.opted_out(session, tenant_id=principal.tenant_id, addresses=built.recipients)
        if out:
            found = [(label, a) for label, a in recipients if a in out]
            raise InvalidInput(
                refusal(found, "opted out", "opted out")
                + " of e-mail (LGPD consent); nothing was queued. Only transactional mail "
                "(a receipt, a password reset) may still be sent to an address that opted out",
                field=found[0][0],
            )
    email = Email(**built.row)
    email.idempotency_key = idempotency_key
    try:
        with session.begin_nested():
            session.add(email)
            session.flush()
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race.
        if idempotency_key is None:
            raise
        existing = find_by_idempotency_key(session, principal=principal, key=idempotency_key)
        if existing is None:
            raise
        return existing, False
    session.add_all(_attach_rows(email, built.attachments))
    enqueue.register_tracking(session, [built], [email.id], settings)
    events.record(session, email=email, type=email.status if email.status == "held" else "queued")
    wakeup.after_commit(session)
    return email, True


def get_or_raise(session: Session, *, principal: Principal, email_id: int) -> Email:
    """The message if this key may see it; another tenant's or key's is simply not found."""
    email = session.scalar(select(Email).where(Email.id == email_id, *visible_to(principal)))
    if email is None:
        raise NotFound(f"email {email_id} not found")
    return email


def list_(
    session: Session,
    *,
    principal: Principal,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    account_ids: set[int] | None = None,
    search: str | None = None,
) -> tuple[list[Email], int]:
    """Newest first. `account_ids`: only mail of those accounts (a person who sees only some
    mailboxes); `search`: a piece of the recipient, the subject or the Message-ID."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise InvalidInput("offset must be 0 or more", field="offset")
    where = visible_to(principal)
    if status:
        where.append(Email.status == status)
    if account_ids is not None:
        where.append(Email.account_id.in_(sorted(account_ids)))
    if search and search.strip():
        where.append(outbox_search.matches(session, q=search))
    total = session.scalar(select(func.count(Email.id)).where(*where)) or 0
    stmt = select(Email).where(*where).order_by(Email.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt)), total


def cancel(session: Session, *, principal: Principal, email_id: int) -> Email:
    email = get_or_raise(session, principal=principal, email_id=email_id)
    if email.status not in ("pending", "held"):
        raise Conflict(f"email {email_id} is {email.status} and can no longer be cancelled")
    email.status = "cancelled"
    email.updated_at = utcnow()
    events.record(session, email=email, type="cancelled", detail=principal.actor)
    return email


def reschedule(
    session: Session, *, principal: Principal, email_id: int, send_at: datetime | None
) -> Email:
    """Moves a message that has not been sent yet to `send_at` (None: as soon as possible).

    A held message keeps waiting for its approval; approving it later honours the new time."""
    email = get_or_raise(session, principal=principal, email_id=email_id)
    if email.status not in ("pending", "held"):
        raise Conflict(f"email {email_id} is {email.status} and can no longer be rescheduled")
    now = utcnow()
    email.scheduled_at = send_at
    if email.status == "pending":
        email.run_at = max(now, send_at) if send_at else now
    email.updated_at = now
    events.record(
        session,
        email=email,
        type="rescheduled",
        detail={**principal.actor, "scheduled_at": send_at.isoformat() if send_at else None},
    )
    wakeup.after_commit(session)
    return email


def _no_resend_in_review(principal: Principal) -> None:
    # Sending again is a person's decision for a key whose mail waits for approval.
    if principal.review_mode:
        raise Forbidden("a key in review mode cannot requeue messages; ask an operator")


def retry(session: Session, *, principal: Principal, email_id: int) -> Email:
    email = get_or_raise(session, principal=principal, email_id=email_id)
    _no_resend_in_review(principal)
    if email.status not in ("failed", "dead"):
        raise Conflict(f"email {email_id} is {email.status}; only failed or dead ones are retried")
    _requeue(email)
    events.record(session, email=email, type="requeued", detail=principal.actor)
    wakeup.after_commit(session)
    return email


def approve(session: Session, *, principal: Principal, email_id: int) -> Email:
    if principal.review_mode:
        raise Forbidden("a key in review mode cannot approve messages")
    email = get_or_raise(session, principal=principal, email_id=email_id)
    if email.status != "held":
        raise Conflict(f"email {email_id} is {email.status}, not held for review")
    now = utcnow()
    email.status = "pending"
    email.run_at = max(now, email.scheduled_at) if email.scheduled_at else now
    email.updated_at = now
    events.record(session, email=email, type="approved", detail=principal.actor)
    wakeup.after_commit(session)
    return email


def confirm_held(session: Session, *, principal: Principal, email_id: int, via: str) -> Email:
    """Releases a held message of this key because the person at its client confirmed it.

    For MCP elicitation: the key is in review mode, and the person it acts for said yes in
    their own client, which is the review. Only the key's own held message is released."""
    email = get_or_raise(session, principal=principal, email_id=email_id)
    if email.status != "held":
        raise Conflict(f"email {email_id} is {email.status}, not held for review")
    if principal.key_id is not None and email.api_key_id not in (None, principal.key_id):
        raise Forbidden("only the key that queued a held message can confirm it")
    now = utcnow()
    email.status = "pending"
    email.run_at = max(now, email.scheduled_at) if email.scheduled_at else now
    email.updated_at = now
    events.record(session, email=email, type="approved", detail={**principal.actor, "via": via})
    wakeup.after_commit(session)
    return email


def _requeue(email: Email) -> None:
    now = utcnow()
    email.status = "pending"
    email.run_at = now
    email.retry_count = 0
    email.error_message = None
    email.error_type = None
    email.lease_owner = None
    email.lease_until = None
    email.updated_at = now


def list_dead(
    session: Session, *, principal: Principal, limit: int = 50, offset: int = 0
) -> tuple[list[Email], int]:
    return list_(session, principal=principal, status="dead", limit=limit, offset=offset)


def dead_error_types(
    session: Session, *, principal: Principal, account_ids: set[int] | None = None
) -> list[tuple[str, int]]:
    """The dead-letter queue by error type, largest first: what a person requeues by type."""
    where = [*visible_to(principal), Email.status == "dead", Email.error_type.is_not(None)]
    if account_ids is not None:
        where.append(Email.account_id.in_(sorted(account_ids)))
    # count(*), not count(id): PostgreSQL answers from ix_emails_tenant_dead_error alone.
    rows = session.execute(
        select(Email.error_type, func.count())
        .where(*where)
        .group_by(Email.error_type)
        .order_by(func.count().desc(), Email.error_type)
    )
    return [(str(t), int(n)) for t, n in rows]


def requeue_dead(
    session: Session,
    *,
    principal: Principal,
    ids: Sequence[int] | None = None,
    error_type: str | None = None,
    account_ids: set[int] | None = None,
) -> list[int]:
    """Moves dead messages back to pending, chosen by ids or by error type (and, for a person
    who sees only some mailboxes, only those accounts' mail)."""
    if not ids and not error_type:
        raise InvalidInput("give 'ids' or 'error_type'", field="ids")
    _no_resend_in_review(principal)
    stmt = select(Email).where(*visible_to(principal), Email.status == "dead")
    if account_ids is not None:
        stmt = stmt.where(Email.account_id.in_(sorted(account_ids)))
    if ids:
        stmt = stmt.where(Email.id.in_(list(ids)))
    if error_type:
        stmt = stmt.where(Email.error_type == error_type)
    done = []
    for email in session.scalars(stmt):
        _requeue(email)
        events.record(session, email=email, type="requeued", detail=principal.actor)
        done.append(email.id)
    if done:
        wakeup.after_commit(session)
    return done


def account_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Account.id, Account.name).where(Account.id.in_(ids))).all())


def to_public(
    email: Email, *, account_name: str | None, attempts: list[EmailAttempt] | None = None
) -> EmailPublic:
    return EmailPublic(
        id=email.id,
        status=email.status,
        to_email=email.to_email,
        cc_emails=email.cc_emails or [],
        bcc_emails=email.bcc_emails or [],
        from_email=email.from_email,
        subject=email.subject,
        priority=PRIORITY_NAMES[email.priority],
        scheduled_at=email.scheduled_at,
        sent_at=email.sent_at,
        created_at=email.created_at,
        updated_at=email.updated_at,
        retry_count=email.retry_count,
        max_retries=email.max_retries,
        error_message=email.error_message,
        error_type=email.error_type,
        message_id=email.message_id,
        account=account_name or (CAPTURE if email.account_id is None else "(deleted)"),
        source=email.source,
        attempts=[
            AttemptPublic(
                number=a.number,
                at=a.started_at,
                account=a.account,
                smtp_code=a.smtp_code,
                smtp_reply=a.smtp_reply,
                duration_ms=a.duration_ms,
                outcome=a.outcome,
                error_type=a.error_type,
            )
            for a in attempts
        ]
        if attempts is not None
        else None,
    )


def public(session: Session, email: Email, *, with_attempts: bool = False) -> EmailPublic:
    names = account_names(session, {email.account_id} if email.account_id else set())
    attempts = None
    if with_attempts:
        stmt = select(EmailAttempt).where(EmailAttempt.email_id == email.id)
        attempts = list(session.scalars(stmt.order_by(EmailAttempt.id)))
    return to_public(email, account_name=names.get(email.account_id or -1), attempts=attempts)


def public_page(
    session: Session, emails: list[Email], *, total: int, limit: int, offset: int
) -> EmailPage:
    names = account_names(session, {e.account_id for e in emails if e.account_id})
    items = [to_public(e, account_name=names.get(e.account_id or -1)) for e in emails]
    return EmailPage(items=items, total=total, limit=limit, offset=offset)


def raw_bytes(session: Session, email: Email, *, settings: Settings) -> bytes:
    """The bytes sent (or to be sent): pool mail carries the sender the dispatcher chose, and
    the DKIM signature the dispatcher adds is rebuilt here (it is deterministic: the same
    key, the same bytes and the creation time as its timestamp)."""
    signers = Signers(session, vault_for(settings.secret_key, str(settings.data_dir)))
    account = None
    if not email.account_pinned and email.account_id is not None:
        account = session.get(Account, email.account_id)
    if account is None or from_address(email.raw) == account.email.lower():
        if email.raw.startswith(b"DKIM-Signature:"):
            return email.raw  # sealed when the dispatcher took it: the bytes sent
        return signers.sign(
            email.raw, tenant_id=email.tenant_id, from_email=email.from_email, at=email.created_at
        )
    return resign(
        email.raw,
        from_email=account.email,
        from_name=email.from_name or account.display_name,
        tenant_id=email.tenant_id,
        at=email.created_at,
        signers=signers,
    )


def from_address(raw: bytes) -> str | None:
    """The address in the stored message's From field (lower-case)."""
    from email.parser import BytesHeaderParser
    from email.utils import parseaddr

    head = raw.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    value = BytesHeaderParser().parsebytes(head).get("From")
    return parseaddr(str(value))[1].lower() if value else None
