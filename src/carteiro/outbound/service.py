"""Creating and managing outbound messages: validate, compose once, enqueue, cancel, retry."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.accounts.vault import vault_for
from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.deliverability import suppression, unsubscribe
from carteiro.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from carteiro.leads import consent
from carteiro.outbound import events, wakeup
from carteiro.outbound.addresses import domain_of, parse_address, parse_addresses
from carteiro.outbound.compose import Attachment, compose_message, make_message_id, set_from
from carteiro.outbound.dkim import Signers
from carteiro.outbound.models import (
    LANE_BULK,
    LANE_TRANSACTIONAL,
    PRIORITIES,
    PRIORITY_NAMES,
    Email,
    EmailAttachment,
    EmailAttempt,
)
from carteiro.outbound.ratelimit import check_hourly_limit
from carteiro.outbound.schemas import AttemptPublic, EmailCreate, EmailPage, EmailPublic
from carteiro.tenancy.service import Principal

MAX_BATCH = 1000
MAX_PAGE = 500
CAPTURE = "capture"


@dataclass
class _Pool:
    """The tenant's active accounts, loaded once per request."""

    accounts: list[Account]

    def by_ref(self, ref: str | int, field: str) -> Account:
        for account in self.accounts:
            if str(account.id) == str(ref) or account.name == str(ref):
                return account
        raise InvalidInput(f"unknown or inactive account '{ref}'", field=field)

    def choose(self, route: str | None, field: str) -> Account | None:
        """A provisional sender for the raw preview; the dispatcher re-routes pool mail by
        weighted round-robin among healthy accounts with budget when it claims it."""
        matching = [a for a in self.accounts if _matches(a.email, route)]
        if route and not matching:
            raise InvalidInput(f"no active account sends as '{route}'", field=field)
        if not matching:
            return None
        return random.choices(matching, weights=[a.weight for a in matching])[0]


def _matches(email: str, route: str | None) -> bool:
    if not route:
        return True
    if route.startswith("@"):
        return domain_of(email) == route[1:].lower()
    return email.lower() == route.lower()


def _route(value: str | None, field: str) -> str | None:
    if not value:
        return None
    if value.startswith("@"):
        domain = value[1:].strip().lower()
        if not domain or "." not in domain or any(c.isspace() for c in domain):
            raise InvalidInput(f"'{value}' is not '@domain'", field=field)
        return "@" + domain
    return parse_address(value, field=field)


def _load_pool(session: Session, tenant_id: int) -> _Pool:
    stmt = select(Account).where(Account.tenant_id == tenant_id, Account.status == "active")
    return _Pool(list(session.scalars(stmt.order_by(Account.id))))


def _check_recipients(principal: Principal, recipients: Sequence[str]) -> None:
    refused = [r for r in recipients if not principal.recipient_allowed(r)]
    if refused:
        allowed = ", ".join(principal.allowed_recipients or ()) or "nobody"
        raise Forbidden(
            f"recipient(s) {', '.join(refused)} are outside this key's allow-list "
            f"({allowed}); ask an operator to widen it",
            field="to_email",
        )


def _build(
    data: EmailCreate,
    *,
    prefix: str,
    principal: Principal,
    pool: _Pool,
    settings: Settings,
    now: datetime,
    source: str,
    lane: int,
) -> tuple[Email, list[Attachment]]:
    """Validates one request and renders its bytes; raises with the field named."""
    to = parse_addresses(data.to_email, field=f"{prefix}to_email")
    if not to:
        raise InvalidInput("at least one recipient is required", field=f"{prefix}to_email")
    cc = parse_addresses(data.cc_emails, field=f"{prefix}cc_emails")
    bcc = parse_addresses(data.bcc_emails, field=f"{prefix}bcc_emails")
    reply_to = parse_addresses(data.reply_to, field=f"{prefix}reply_to") or None
    _check_recipients(principal, [*to, *cc, *bcc])
    if len(data.body) > settings.max_body_chars:
        raise TooLarge(f"body is larger than {settings.max_body_chars} characters", field="body")
    if data.html_body and len(data.html_body) > settings.max_body_chars:
        raise TooLarge(
            f"html_body is larger than {settings.max_body_chars} characters", field="html_body"
        )

    attachments: list[Attachment] = []
    for i, item in enumerate(data.attachments or []):
        field = f"{prefix}attachments[{i}]"
        att = Attachment.from_base64(
            item.filename, item.content_type, item.content_base64, field=field
        )
        if len(att.data) > settings.max_attachment_bytes:
            raise TooLarge(
                f"attachment '{item.filename}' is {len(att.data)} bytes; the limit is "
                f"{settings.max_attachment_bytes}",
                field=field,
            )
        attachments.append(att)

    route = _route(data.from_email, f"{prefix}from_email")
    if data.account is not None:
        account = pool.by_ref(data.account, f"{prefix}account")
        if route and not _matches(account.email, route):
            raise InvalidInput(
                f"account '{account.name}' does not send as '{route}'", field=f"{prefix}from_email"
            )
    else:
        account = pool.choose(route, f"{prefix}from_email")
    from_email = account.email if account else settings.default_from
    from_name = account.display_name if account else None
    message_id = make_message_id(domain_of(from_email))
    headers = dict(data.headers or {})
    if lane == LANE_BULK and not any(h.lower() == "list-unsubscribe" for h in headers):
        # RFC 8058 one-click unsubscribe, required by Gmail and Yahoo for bulk senders.
        headers.update(
            unsubscribe.list_unsubscribe_headers(
                settings, tenant_id=principal.tenant_id, address=to[0]
            )
        )
    raw = compose_message(
        from_addr=from_email,
        from_name=from_name,
        to=to,
        cc=cc,
        subject=data.subject,
        text=data.body,
        html=data.html_body,
        attachments=attachments,
        reply_to=reply_to,
        headers=headers or None,
        message_id=message_id,
        date=now,
        max_bytes=settings.max_message_bytes,
    )
    run_at = max(now, data.scheduled_at) if data.scheduled_at else now
    email = Email(
        tenant_id=principal.tenant_id,
        api_key_id=principal.key_id,
        account_id=account.id if account else None,
        # Pool mail (no explicit account) may be re-routed at claim time; capture mail stays.
        account_pinned=data.account is not None or account is None,
        route_from=route,
        source=source,
        lane=lane,
        status="held" if principal.review_mode else "pending",
        priority=PRIORITIES[data.priority],
        from_email=from_email,
        to_email=", ".join(to),
        to_emails=to,
        cc_emails=cc,
        bcc_emails=bcc,
        reply_to=reply_to,
        subject=data.subject,
        body=data.body,
        html_body=data.html_body,
        headers=data.headers,
        message_id=message_id,
        raw=raw,
        size=len(raw),
        scheduled_at=data.scheduled_at,
        run_at=run_at,
        max_retries=settings.email_max_retries,
        created_at=now,
        updated_at=now,
    )
    return email, attachments


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


def _sign(session: Session, emails: list[Email], settings: Settings) -> None:
    """DKIM-signs each message for its sender's domain, when the tenant has a key for it."""
    signers = Signers(session, vault_for(settings.secret_key, str(settings.data_dir)))
    for email in emails:
        email.raw = signers.sign(
            email.raw, tenant_id=email.tenant_id, from_email=email.from_email, at=email.created_at
        )
        email.size = len(email.raw)


def _recipients(email: Email) -> list[str]:
    return [*email.to_emails, *(email.cc_emails or []), *(email.bcc_emails or [])]


def find_by_idempotency_key(session: Session, *, tenant_id: int, key: str) -> Email | None:
    stmt = select(Email).where(Email.tenant_id == tenant_id, Email.idempotency_key == key)
    return session.scalar(stmt)


def create(
    session: Session,
    *,
    principal: Principal,
    data: EmailCreate,
    settings: Settings,
    idempotency_key: str | None = None,
    source: str = "api",
) -> tuple[Email, bool]:
    """Enqueues one message; returns it and whether it is new (False: idempotent repeat)."""
    if idempotency_key is not None:
        if not 0 < len(idempotency_key) <= 255:
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key"
            )
        existing = find_by_idempotency_key(
            session, tenant_id=principal.tenant_id, key=idempotency_key
        )
        if existing is not None:
            return existing, False
    now = utcnow()
    check_hourly_limit(
        session,
        principal=principal,
        default_limit=settings.email_rate_limit_per_hour,
        adding=1,
        now=now,
    )
    email, attachments = _build(
        data,
        prefix="",
        principal=principal,
        pool=_load_pool(session, principal.tenant_id),
        settings=settings,
        now=now,
        source=source,
        lane=LANE_TRANSACTIONAL,
    )
    hits = suppression.is_suppressed(
        session, tenant_id=principal.tenant_id, addresses=_recipients(email)
    )
    if hits:
        listed = ", ".join(f"{a} ({r})" for a, r in hits.items())
        raise InvalidInput(
            f"on this tenant's suppression list, never mailed: {listed}", field="to_email"
        )
    _sign(session, [email], settings)
    email.idempotency_key = idempotency_key
    try:
        with session.begin_nested():
            session.add(email)
            session.flush()
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race.
        if idempotency_key is None:
            raise
        existing = find_by_idempotency_key(
            session, tenant_id=principal.tenant_id, key=idempotency_key
        )
        if existing is None:
            raise
        return existing, False
    session.add_all(_attach_rows(email, attachments))
    events.record(session, email=email, type=email.status if email.status == "held" else "queued")
    wakeup.after_commit(session)
    return email, True


def create_batch(
    session: Session,
    *,
    principal: Principal,
    items: Sequence[EmailCreate],
    settings: Settings,
    source: str = "batch",
) -> list[Email]:
    """Validates every item first, then inserts all or nothing."""
    if not items:
        raise InvalidInput("the batch is empty", field="emails")
    if len(items) > MAX_BATCH:
        raise TooLarge(f"a batch holds at most {MAX_BATCH} messages", field="emails")
    now = utcnow()
    check_hourly_limit(
        session,
        principal=principal,
        default_limit=settings.email_rate_limit_per_hour,
        adding=len(items),
        now=now,
    )
    pool = _load_pool(session, principal.tenant_id)
    built = [
        _build(
            item,
            prefix=f"emails[{i}].",
            principal=principal,
            pool=pool,
            settings=settings,
            now=now,
            source=source,
            lane=LANE_BULK,
        )
        for i, item in enumerate(items)
    ]
    emails = [email for email, _ in built]
    hits = suppression.is_suppressed(
        session,
        tenant_id=principal.tenant_id,
        addresses=sorted({a for e in emails for a in _recipients(e)}),
    )
    # LGPD: leads that opted out are never reached by bulk mail.
    for address in consent.opted_out(
        session,
        tenant_id=principal.tenant_id,
        addresses=sorted({a for e in emails for a in _recipients(e)}),
    ):
        hits.setdefault(address, "opt_out")
    for email in emails:
        listed = [f"{a} ({hits[a]})" for a in _recipients(email) if a in hits]
        if listed:
            # Bulk keeps the row so the caller sees why it was not sent.
            email.status = "suppressed"
            email.error_message = "on the suppression list: " + ", ".join(listed)
            email.error_type = "suppressed"
    _sign(session, [e for e in emails if e.status != "suppressed"], settings)
    session.add_all(emails)
    session.flush()
    session.add_all([row for email, atts in built for row in _attach_rows(email, atts)])
    for email in emails:
        kind = email.status if email.status in ("held", "suppressed") else "queued"
        events.record(session, email=email, type=kind)
    wakeup.after_commit(session)
    return emails


def get_or_raise(session: Session, *, tenant_id: int, email_id: int) -> Email:
    email = session.get(Email, email_id)
    if email is None or email.tenant_id != tenant_id:
        raise NotFound(f"email {email_id} not found")
    return email


def list_(
    session: Session,
    *,
    tenant_id: int,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Email], int]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    if offset < 0:
        raise InvalidInput("offset must be 0 or more", field="offset")
    where = [Email.tenant_id == tenant_id]
    if status:
        where.append(Email.status == status)
    total = session.scalar(select(func.count(Email.id)).where(*where)) or 0
    stmt = select(Email).where(*where).order_by(Email.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt)), total


def cancel(session: Session, *, tenant_id: int, email_id: int) -> Email:
    email = get_or_raise(session, tenant_id=tenant_id, email_id=email_id)
    if email.status not in ("pending", "held"):
        raise Conflict(f"email {email_id} is {email.status} and can no longer be cancelled")
    email.status = "cancelled"
    email.updated_at = utcnow()
    events.record(session, email=email, type="cancelled")
    return email


def retry(session: Session, *, tenant_id: int, email_id: int) -> Email:
    email = get_or_raise(session, tenant_id=tenant_id, email_id=email_id)
    if email.status not in ("failed", "dead"):
        raise Conflict(f"email {email_id} is {email.status}; only failed or dead ones are retried")
    _requeue(email)
    events.record(session, email=email, type="requeued")
    wakeup.after_commit(session)
    return email


def approve(session: Session, *, principal: Principal, email_id: int) -> Email:
    if principal.review_mode:
        raise Forbidden("a key in review mode cannot approve messages")
    email = get_or_raise(session, tenant_id=principal.tenant_id, email_id=email_id)
    if email.status != "held":
        raise Conflict(f"email {email_id} is {email.status}, not held for review")
    now = utcnow()
    email.status = "pending"
    email.run_at = max(now, email.scheduled_at) if email.scheduled_at else now
    email.updated_at = now
    events.record(session, email=email, type="approved", detail={"by": principal.key_name})
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
    session: Session, *, tenant_id: int, limit: int = 50, offset: int = 0
) -> tuple[list[Email], int]:
    return list_(session, tenant_id=tenant_id, status="dead", limit=limit, offset=offset)


def requeue_dead(
    session: Session,
    *,
    tenant_id: int,
    ids: Sequence[int] | None = None,
    error_type: str | None = None,
) -> list[int]:
    """Moves dead messages back to pending, chosen by ids or by error type."""
    if not ids and not error_type:
        raise InvalidInput("give 'ids' or 'error_type'", field="ids")
    stmt = select(Email).where(Email.tenant_id == tenant_id, Email.status == "dead")
    if ids:
        stmt = stmt.where(Email.id.in_(list(ids)))
    if error_type:
        stmt = stmt.where(Email.error_type == error_type)
    done = []
    for email in session.scalars(stmt):
        _requeue(email)
        events.record(session, email=email, type="requeued")
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
        status=email.status,  # type: ignore[arg-type]
        to_email=email.to_email,
        cc_emails=email.cc_emails or [],
        bcc_emails=email.bcc_emails or [],
        from_email=email.from_email,
        subject=email.subject,
        priority=PRIORITY_NAMES[email.priority],  # type: ignore[arg-type]
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
    """The bytes sent (or to be sent): pool mail carries the sender the dispatcher chose."""
    if email.account_pinned or email.account_id is None:
        return email.raw
    account = session.get(Account, email.account_id)
    if account is None or from_address(email.raw) == account.email.lower():
        return email.raw
    return reroute(
        session,
        email.raw,
        account=account,
        tenant_id=email.tenant_id,
        created_at=email.created_at,
        settings=settings,
    )


def from_address(raw: bytes) -> str | None:
    """The address in the stored message's From field (lower-case)."""
    from email.parser import BytesHeaderParser
    from email.utils import parseaddr

    head = raw.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    value = BytesHeaderParser().parsebytes(head).get("From")
    return parseaddr(str(value))[1].lower() if value else None


def reroute(
    session: Session,
    raw: bytes,
    *,
    account: Account,
    tenant_id: int,
    created_at: datetime,
    settings: Settings,
    signers: Signers | None = None,
) -> bytes:
    """Pool mail moved to another account: its From, and so its DKIM signature, change."""
    raw = set_from(raw, from_addr=account.email, from_name=account.display_name)
    signers = signers or Signers(session, vault_for(settings.secret_key, str(settings.data_dir)))
    return signers.sign(raw, tenant_id=tenant_id, from_email=account.email, at=created_at)
