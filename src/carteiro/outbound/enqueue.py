"""Queueing new messages: validate each request, render it once, insert a batch in bulk."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.config import Settings
from carteiro.db.base import table_of
from carteiro.db.results import dml, inserted_id
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, Forbidden, InvalidInput, TooLarge
from carteiro.leads import consent, suppression, unsubscribe
from carteiro.mail.addresses import domain_of, parse_address, parse_addresses
from carteiro.mail.attachments import Attachment
from carteiro.mail.compose import compose_message, make_message_id
from carteiro.mail.mime import CalendarPart
from carteiro.outbound import wakeup
from carteiro.outbound.models import LANE_BULK, PRIORITIES, Email, EmailAttachment, EmailEvent
from carteiro.outbound.ratelimit import check_hourly_limit
from carteiro.outbound.schemas import EmailCreate
from carteiro.tenancy.service import Principal
from carteiro.tracking import body as tracking_body
from carteiro.tracking import service as tracking
from carteiro.tracking.links import Scan

MAX_BATCH = 1000
Row = dict[str, Any]
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('emails', 'id')) FROM generate_series(1, :n)"
)


@dataclass
class Pool:
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


def load_pool(session: Session, tenant_id: int) -> Pool:
    stmt = select(Account).where(Account.tenant_id == tenant_id, Account.status == "active")
    return Pool(list(session.scalars(stmt.order_by(Account.id))))


def labelled(prefix: str, **fields: list[str]) -> list[tuple[str, str]]:
    """Each address with the field that holds it ('to_email', 'cc_emails[1]'), in order."""
    out = []
    for name, addresses in fields.items():
        for i, address in enumerate(addresses):
            out.append((f"{prefix}{name}[{i}]" if len(addresses) > 1 else prefix + name, address))
    return out


def refusal(found: list[tuple[str, str]], singular: str, plural: str) -> str:
    """'cc_emails[1]: bob@x.com is …' or 'to_email: a@x.com, cc_emails: b@x.com are …'."""
    listed = ", ".join(f"{label}: {address}" for label, address in found)
    return f"{listed} {singular if len(found) == 1 else plural}"


def check_recipients(principal: Principal, recipients: list[tuple[str, str]]) -> None:
    """Refuses, naming the field, any (field, address) outside the key's allow-list."""
    refused = [(label, r) for label, r in recipients if not principal.recipient_allowed(r)]
    if refused:
        allowed = ", ".join(principal.allowed_recipients or ()) or "nobody"
        message = refusal(
            refused, "is not in this key's allow-list", "are not in this key's allow-list"
        )
        raise Forbidden(f"{message} ({allowed}); ask an operator to widen it", field=refused[0][0])


@dataclass
class Built:
    """One validated request: the values of its `emails` row and its decoded attachments."""

    row: Row
    attachments: list[Attachment]
    # The tracked links and pixel the body was rewritten with (`track` requested).
    tracked: tracking_body.Tracked | None = None

    @property
    def recipients(self) -> list[str]:
        row = self.row
        return [*row["to_emails"], *(row["cc_emails"] or []), *(row["bcc_emails"] or [])]

    def labelled(self, prefix: str = "") -> list[tuple[str, str]]:
        row = self.row
        return labelled(
            prefix,
            to_email=row["to_emails"],
            cc_emails=row["cc_emails"] or [],
            bcc_emails=row["bcc_emails"] or [],
        )


def build(
    data: EmailCreate,
    *,
    prefix: str,
    principal: Principal,
    pool: Pool,
    settings: Settings,
    now: datetime,
    source: str,
    lane: int,
    calendar: CalendarPart | None = None,
    links: Scan | None = None,
) -> Built:
    """Validates one request and renders its bytes; raises with the field named.

    `calendar` adds an invitation as a `text/calendar` alternative, and `links` says where
    the links of `html_body` are (`tracking.links.scan_html`), when the caller knows (callers
    inside Carteiro only: the public request shape has no such fields)."""
    to = parse_addresses(data.to_email, field=f"{prefix}to_email")
    if not to:
        raise InvalidInput("at least one recipient is required", field=f"{prefix}to_email")
    cc = parse_addresses(data.cc_emails, field=f"{prefix}cc_emails")
    bcc = parse_addresses(data.bcc_emails, field=f"{prefix}bcc_emails")
    reply_to = parse_addresses(data.reply_to, field=f"{prefix}reply_to") or None
    check_recipients(principal, labelled(prefix, to_email=to, cc_emails=cc, bcc_emails=bcc))
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
    account: Account | None
    if data.account is not None:
        account = pool.by_ref(data.account, f"{prefix}account")
        if route and not _matches(account.email, route):
            raise InvalidInput(
                f"account '{account.name}' does not send as '{route}'", field=f"{prefix}from_email"
            )
    else:
        account = pool.choose(route, f"{prefix}from_email")
    from_email = account.email if account else settings.default_from
    from_name = data.from_name or (account.display_name if account else None)
    message_id = make_message_id(domain_of(from_email))
    headers = dict(data.headers or {})
    if lane == LANE_BULK and not any(h.lower() == "list-unsubscribe" for h in headers):
        # RFC 8058 one-click unsubscribe, required by Gmail and Yahoo for bulk senders.
        headers.update(
            unsubscribe.list_unsubscribe_headers(
                settings, tenant_id=principal.tenant_id, address=to[0], message_id=message_id
            )
        )
    text_part, html_part, tracked = data.body, data.html_body, None
    if data.track:
        # Before composing, so the DKIM signature (added later) covers the tracked body.
        tracked = tracking_body.rewrite(
            settings, html_body=html_part, text_body=text_part, scan=links
        )
        text_part, html_part = tracked.text or "", tracked.html
    raw = compose_message(
        from_addr=from_email,
        from_name=from_name,
        to=to,
        cc=cc,
        subject=data.subject,
        text=text_part,
        html=html_part,
        attachments=attachments,
        calendar=calendar,
        reply_to=reply_to,
        headers=headers or None,
        message_id=message_id,
        date=now,
        max_bytes=settings.max_message_bytes,
    )
    run_at = max(now, data.scheduled_at) if data.scheduled_at else now
    row: Row = {
        "tenant_id": principal.tenant_id,
        "api_key_id": principal.key_id,
        "account_id": account.id if account else None,
        # Pool mail (no explicit account) may be re-routed at claim time; capture mail stays.
        "account_pinned": data.account is not None or account is None,
        "route_from": route,
        "source": source,
        "lane": lane,
        "status": "held" if principal.review_mode else "pending",
        "priority": PRIORITIES[data.priority],
        "from_email": from_email,
        "from_name": data.from_name or None,
        "to_email": ", ".join(to),
        "to_emails": to,
        "cc_emails": cc,
        "bcc_emails": bcc,
        "reply_to": reply_to,
        "subject": data.subject,
        "body": data.body,
        "html_body": data.html_body,
        "headers": data.headers,
        "message_id": message_id,
        "raw": raw,
        "size": len(raw),
        "scheduled_at": data.scheduled_at,
        "run_at": run_at,
        "max_retries": settings.email_max_retries,
        "created_at": now,
        "updated_at": now,
    }
    return Built(row=row, attachments=attachments, tracked=tracked)


@dataclass(frozen=True)
class Queued:
    """A message of a batch as inserted: its id, and whether it was suppressed and why."""

    id: int
    message_id: str
    status: str
    error_message: str | None


def create_batch(
    session: Session,
    *,
    principal: Principal,
    items: Sequence[EmailCreate],
    settings: Settings,
    source: str = "batch",
    lane: int = LANE_BULK,
    links: Sequence[Scan | None] | None = None,
) -> list[Queued]:
    """Validates every item first, then inserts all or nothing.

    Suppressed and opted-out recipients are kept as `suppressed` rows. `lane`: bulk unless
    the caller sends mail a person is waiting for (appointment reminders). `links`: per
    item, where the links of its `html_body` are, when the caller knows (see `build`)."""
    if not items:
        raise InvalidInput("the batch is empty", field="emails")
    if len(items) > MAX_BATCH:
        raise TooLarge(f"a batch holds at most {MAX_BATCH} messages", field="emails")
    now = utcnow()
    pool = load_pool(session, principal.tenant_id)
    built = []
    for i, item in enumerate(items):
        prefix = f"emails[{i}]."
        try:
            built.append(
                build(
                    item,
                    prefix=prefix,
                    principal=principal,
                    pool=pool,
                    settings=settings,
                    now=now,
                    source=source,
                    lane=lane,
                    links=links[i] if links is not None else None,
                )
            )
        except CarteiroError as exc:
            # Composing names fields without the item ("subject"); say which item it was.
            if exc.field and not exc.field.startswith(prefix):
                exc.field = prefix + exc.field
            raise
    check_hourly_limit(
        session,
        principal=principal,
        default_limit=settings.email_rate_limit_per_hour,
        adding=sum(len(b.recipients) for b in built),
        now=now,
        field="emails",
    )
    _mark_suppressed(session, principal.tenant_id, built)
    rows = [b.row for b in built]
    # Stored unsigned: the dispatcher DKIM-signs each message when it takes it
    # (`claim.finish`).
    ids = _insert_emails(session, rows)
    _insert_children(session, built, ids)
    register_tracking(session, built, ids, settings)
    wakeup.after_commit(session)
    return [
        Queued(id_, row["message_id"], row["status"], row["error_message"])
        for id_, row in zip(ids, rows, strict=True)
    ]


def _mark_suppressed(session: Session, tenant_id: int, built: list[Built]) -> None:
    """Bulk keeps a suppressed message's row, so the caller sees why it was not sent."""
    addresses = sorted({a for b in built for a in b.recipients})
    hits = suppression.is_suppressed(session, tenant_id=tenant_id, addresses=addresses)
    # LGPD: leads that opted out are never reached by bulk mail.
    for address in consent.opted_out(session, tenant_id=tenant_id, addresses=addresses):
        hits.setdefault(address, "opt_out")
    for b in built:
        listed = [f"{a} ({hits[a]})" for a in b.recipients if a in hits]
        b.row.update(error_message=None, error_type=None)
        if listed:
            b.row.update(
                status="suppressed",
                error_message="on the suppression list: " + ", ".join(listed),
                error_type="suppressed",
            )


def register_tracking(
    session: Session, built: Sequence[Built], ids: Sequence[int], settings: Settings
) -> None:
    """Stores the links of the tracked messages that will be sent."""
    rows = []
    anonymous: dict[int, bool] = {}
    for b, id_ in zip(built, ids, strict=True):
        if b.tracked is None or b.row["status"] == "suppressed":
            continue
        tenant_id = b.row["tenant_id"]
        if tenant_id not in anonymous:
            anonymous[tenant_id] = tracking.is_anonymous(
                session, tenant_id=tenant_id, settings=settings
            )
        rows.append(
            {
                "tenant_id": tenant_id,
                "token": b.tracked.token,
                "email_id": None if anonymous[tenant_id] else id_,
                "anonymous": anonymous[tenant_id],
                "urls": b.tracked.urls,
                "trap": b.tracked.trap,
            }
        )
    tracking.register_many(session, rows)


def _insert_emails(session: Session, rows: list[Row]) -> list[int]:
    """Inserts the rows in order and returns their ids in the same order."""
    table = table_of(Email)
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        # A RETURNING insert becomes one VALUES list of ~30,000 placeholders that psycopg
        # rewrites in Python; ids drawn first let a plain executemany go out as one pipeline.
        ids = sorted(session.scalars(_NEXT_IDS, {"n": len(rows)}))
        for row, id_ in zip(rows, ids, strict=True):
            row["id"] = id_
        session.execute(insert(table), rows)
        return ids
    if dialect.insert_executemany_returning_sort_by_parameter_order:
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.scalars(stmt, rows))
    # SQLite before 3.35 has no RETURNING.
    return [inserted_id(dml(session, insert(table), row)) for row in rows]


def _insert_children(session: Session, built: list[Built], ids: list[int]) -> None:
    """Attachment metadata and the first event of every message, one statement each."""
    now = utcnow()
    attachments = [
        {
            "email_id": id_,
            "filename": a.filename,
            "content_type": a.content_type,
            "file_size": len(a.data),
            "created_at": now,
        }
        for b, id_ in zip(built, ids, strict=True)
        for a in b.attachments
    ]
    if attachments:
        session.execute(insert(table_of(EmailAttachment)), attachments)
    events = [
        {
            "tenant_id": b.row["tenant_id"],
            "email_id": id_,
            "type": b.row["status"] if b.row["status"] in ("held", "suppressed") else "queued",
            "detail": None,
            "created_at": now,
        }
        for b, id_ in zip(built, ids, strict=True)
    ]
    session.execute(insert(table_of(EmailEvent)), events)
