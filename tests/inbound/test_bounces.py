"""Delivery status notifications (RFC 3464) and abuse reports (RFC 5965) matched to sent mail."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from carteiro.events.bus import Bounced
from carteiro.inbound.models import InboxMessage
from carteiro.inbound.parse import parse_message
from carteiro.inbound.reports import detect, parse_verp, verp_address
from carteiro.inbound.schemas import SyncReport
from carteiro.leads.suppression import is_suppressed
from carteiro.outbound import service as outbound
from carteiro.outbound.models import Email, EmailEvent
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot


def dsn(
    *,
    original_id: str,
    recipient: str,
    status: str = "5.1.1",
    action: str = "failed",
    to: str = "inbox@example.com",
    message_id: str = "<dsn-1@mx.example.org>",
    headers_only: bool = False,
) -> bytes:
    enclosed = (
        "Content-Type: text/rfc822-headers\r\n\r\n"
        if headers_only
        else "Content-Type: message/rfc822\r\n\r\n"
    )
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected\r\n\r\n"
        f"--R\r\n{enclosed}"
        f"From: inbox@example.com\r\nTo: {recipient}\r\nSubject: Oferta\r\n"
        f"Message-ID: {original_id}\r\n\r\n"
        "--R--\r\n"
    ).encode()


def arf(*, original_id: str, recipient: str | None) -> bytes:
    rcpt = f"Original-Rcpt-To: {recipient}\r\n" if recipient else ""
    return (
        "From: feedback@provedor.example\r\nTo: inbox@example.com\r\n"
        "Subject: Abuse report\r\nMessage-ID: <arf-1@provedor.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n{rcpt}\r\n"
        "--F\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: inbox@example.com\r\nMessage-ID: {original_id}\r\nSubject: Oferta\r\n\r\n"
        "--F--\r\n"
    ).encode()


@pytest.fixture
def sent(runtime: Runtime, principal: Principal, imap_account: int) -> Email:
    """An outbound message of the account, as if delivered."""
    with runtime.db.session() as session:
        email, _ = outbound.create(
            session,
            principal=principal,
            data=EmailCreate(
                to_email="ninguem@cliente.com.br",
                subject="Oferta",
                body="Confira.",
                account=imap_account,
            ),
            settings=runtime.settings,
        )
        email.status = "sent"
        return email


@pytest.fixture
def bounced(runtime: Runtime) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []

    def handler(session: object, event: Bounced) -> None:
        seen.append((event.address, event.kind))

    runtime.bus.subscribe(Bounced, handler)
    return seen


def _events(runtime: Runtime, email_id: int) -> list[EmailEvent]:
    with runtime.db.session() as session:
        stmt = select(EmailEvent).where(
            EmailEvent.email_id == email_id, EmailEvent.type.not_in(("queued",))
        )
        return list(session.scalars(stmt.order_by(EmailEvent.id)))


def test_hard_bounce_is_matched_by_message_id_once(
    runtime: Runtime,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    sent: Email,
    bounced: list[tuple[str, str]],
) -> None:
    report = dsn(original_id=sent.message_id, recipient="ninguem@cliente.com.br")
    dovecot.append("INBOX", report)
    dovecot.append("Archive", report)  # the same DSN filed twice
    sync()
    (event,) = _events(runtime, sent.id)
    assert event.type == "bounce_hard"
    assert event.detail is not None
    assert event.detail["recipient"] == "ninguem@cliente.com.br"
    assert event.detail["status"] == "5.1.1"
    assert "Recipient address rejected" in event.detail["diagnostic"]
    assert bounced == [("ninguem@cliente.com.br", "hard")]
    with runtime.db.session() as session:
        email = session.get(Email, sent.id)
        assert email is not None and email.status == "sent"
        rows = list(session.scalars(select(InboxMessage)))
    assert {(m.category, m.related_email_id) for m in rows} == {("bounce", sent.id)}

    with runtime.db.session() as session:
        found = is_suppressed(
            session, tenant_id=sent.tenant_id, addresses=["ninguem@cliente.com.br"]
        )
    assert found == {"ninguem@cliente.com.br": "hard_bounce"}


def test_soft_bounce_and_success_notices(
    runtime: Runtime,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    sent: Email,
    bounced: list[tuple[str, str]],
) -> None:
    dovecot.append(
        "INBOX",
        dsn(
            original_id=sent.message_id,
            recipient="ninguem@cliente.com.br",
            status="4.2.2",
            action="delayed",
            headers_only=True,
        ),
    )
    dovecot.append(
        "INBOX",
        dsn(
            original_id=sent.message_id,
            recipient="ninguem@cliente.com.br",
            status="2.0.0",
            action="delivered",
            message_id="<dsn-ok@mx.example.org>",
        ),
    )
    sync()
    assert [(e.type, e.detail["status"]) for e in _events(runtime, sent.id)] == [  # type: ignore[index]
        ("bounce_soft", "4.2.2")
    ]
    assert bounced == [("ninguem@cliente.com.br", "soft")]


def test_bounce_found_through_a_verp_return_path(
    runtime: Runtime, dovecot: Dovecot, sync: Callable[[], SyncReport], sent: Email
) -> None:
    verp = verp_address(dovecot.user, email_id=sent.id, message_id=sent.message_id)
    assert parse_verp(verp) is not None
    # The remote server lost the original's Message-ID but bounced to the VERP address.
    dovecot.append(
        "INBOX",
        dsn(original_id="<unknown@elsewhere>", recipient="ninguem@cliente.com.br", to=verp),
    )
    forged = verp_address(dovecot.user, email_id=sent.id, message_id="<other@x>")
    dovecot.append(
        "INBOX",
        dsn(
            original_id="<unknown@elsewhere>",
            recipient="ninguem@cliente.com.br",
            to=forged,
            message_id="<dsn-forged@x>",
        ),
    )
    sync()
    assert [e.type for e in _events(runtime, sent.id)] == ["bounce_hard"]


def test_complaint_is_recorded_and_feeds_the_hook(
    runtime: Runtime,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    sent: Email,
    bounced: list[tuple[str, str]],
) -> None:
    # Providers often redact the recipient; the original had just one.
    dovecot.append("INBOX", arf(original_id=sent.message_id, recipient=None))
    sync()
    (event,) = _events(runtime, sent.id)
    assert event.type == "complained"
    assert event.detail is not None and event.detail["feedback_type"] == "abuse"
    assert bounced == [("ninguem@cliente.com.br", "complaint")]


def test_reports_about_mail_we_did_not_send_change_nothing(
    runtime: Runtime, dovecot: Dovecot, sync: Callable[[], SyncReport], sent: Email
) -> None:
    dovecot.append("INBOX", dsn(original_id="<not-ours@x>", recipient="a@b.c"))
    sync()
    assert _events(runtime, sent.id) == []
    with runtime.db.session() as session:
        (row,) = session.scalars(select(InboxMessage))
    assert (row.category, row.related_email_id) == ("bounce", None)


def test_legacy_bounce_without_a_report_part() -> None:
    raw = (
        b"From: MAILER-DAEMON@old.example\r\nTo: inbox@example.com\r\n"
        b"Subject: failure notice\r\nX-Failed-Recipients: gone@old.example\r\n\r\n"
        b"Hi. This is the qmail-send program.\r\n<gone@old.example>:\r\n"
        b"Sorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\n"
        b"Message-ID: <orig-77@carteiro>\r\nSubject: Oi\r\n"
    )
    report = detect(parse_message(raw))
    assert report is not None
    assert report.original_message_id == "<orig-77@carteiro>"
    assert [(o.recipient, o.kind, o.status) for o in report.outcomes] == [
        ("gone@old.example", "bounce_hard", "5.1.1")
    ]
    assert detect(parse_message(b"From: a@b.c\r\nSubject: failure notice\r\n\r\nx")) is None


def test_a_report_speaks_only_for_the_recipients_of_the_message_it_quotes(
    runtime: Runtime,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    sent: Email,
    bounced: list[tuple[str, str]],
) -> None:
    # Anyone who saw our Message-ID (a recipient, a list archive) can write this.
    forged = dsn(original_id=sent.message_id, recipient="NINGUEM@cliente.com.br").replace(
        b"\r\n\r\n--R\r\nContent-Type: message/rfc822",
        b"\r\n\r\nFinal-Recipient: rfc822; diretoria@cliente.com.br\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\n\r\nFinal-Recipient: rfc822; vendas@concorrente.example\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n\r\n--R\r\nContent-Type: message/rfc822",
    )
    assert b"vendas@concorrente.example" in forged
    dovecot.append("INBOX", forged)
    dovecot.append("INBOX", arf(original_id=sent.message_id, recipient="outro@cliente.com.br"))
    sync()
    assert [(e.type, e.detail["recipient"]) for e in _events(runtime, sent.id)] == [  # type: ignore[index]
        ("bounce_hard", "ninguem@cliente.com.br")
    ]
    assert bounced == [("ninguem@cliente.com.br", "hard")]

    strangers = [
        "diretoria@cliente.com.br",
        "vendas@concorrente.example",
        "outro@cliente.com.br",
    ]
    with runtime.db.session() as session:
        assert is_suppressed(session, tenant_id=sent.tenant_id, addresses=strangers) == {}
