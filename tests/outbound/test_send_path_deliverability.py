"""The send path honours the suppression list and reply classes (bounces, spam rejections)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from carteiro.accounts.models import Account
from carteiro.errors import InvalidInput
from carteiro.leads import suppression
from carteiro.outbound import service
from carteiro.outbound.models import Email, EmailEvent
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink


def msg(to: str, **extra: object) -> EmailCreate:
    return EmailCreate(**{"to_email": to, "subject": "s", "body": "b", **extra})


def suppress(runtime: Runtime, principal: Principal, **target: str) -> None:
    with runtime.db.session() as session:
        suppression.suppress(
            session, tenant_id=principal.tenant_id, reason="manual", source="test", **target
        )


def test_creation_refuses_suppressed_and_batch_marks_them(
    runtime: Runtime, principal: Principal
) -> None:
    suppress(runtime, principal, email="gone@example.com")
    suppress(runtime, principal, domain="blocked.org")
    with runtime.db.session() as session:
        for to, extra in [
            ("gone@example.com", {}),
            ("ok@example.com", {"bcc_emails": "x@blocked.org"}),
        ]:
            with pytest.raises(InvalidInput) as err:
                service.create(
                    session, principal=principal, data=msg(to, **extra), settings=runtime.settings
                )
            assert "suppression list" in err.value.message
        emails = service.create_batch(
            session,
            principal=principal,
            items=[msg("ok@example.com"), msg("GONE@example.com"), msg("a@blocked.org")],
            settings=runtime.settings,
        )
        assert [e.status for e in emails] == ["pending", "suppressed", "suppressed"]
        assert "manual" in (emails[1].error_message or "")


async def test_suppressed_after_queueing_is_never_sent(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    with runtime.db.session() as session:
        late, _ = service.create(
            session, principal=principal, data=msg("late@example.com"), settings=runtime.settings
        )
        fine, _ = service.create(
            session, principal=principal, data=msg("fine@example.com"), settings=runtime.settings
        )
    suppress(runtime, principal, email="late@example.com")
    await run_dispatcher_until(runtime, lambda: email_status(runtime, fine.id) == "sent")
    assert email_status(runtime, late.id) == "suppressed"
    assert [m.rcpt_tos for m in sink.messages] == [["fine@example.com"]]


async def test_hard_bounce_suppresses_the_address(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    sink.default_reply = "550 5.1.1 The email account that you tried to reach does not exist."
    with runtime.db.session() as session:
        email, _ = service.create(
            session, principal=principal, data=msg("nobody@example.com"), settings=runtime.settings
        )
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email.id) == "failed")
    with runtime.db.session() as session:
        assert suppression.is_suppressed(
            session, tenant_id=principal.tenant_id, addresses=["nobody@example.com"]
        ) == {"nobody@example.com": "hard_bounce"}
        types = list(
            session.scalars(select(EmailEvent.type).where(EmailEvent.email_id == email.id))
        )
    assert types == ["queued", "failed", "bounce_hard"]


async def test_spam_rejection_pauses_bulk_but_not_transactional(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    sink.script(["554 5.7.1 Message rejected as spam by Content Filtering"])
    with runtime.db.session() as session:
        (first,) = service.create_batch(
            session, principal=principal, items=[msg("a@example.com")], settings=runtime.settings
        )
    await run_dispatcher_until(runtime, lambda: email_status(runtime, first.id) == "failed")
    with runtime.db.session() as session:
        account = session.get(Account, smtp_account)
        assert account is not None and account.bulk_paused_until is not None
        assert "bulk mail paused" in (account.status_reason or "")
        (bulk,) = service.create_batch(
            session, principal=principal, items=[msg("b@example.com")], settings=runtime.settings
        )
        transactional, _ = service.create(
            session, principal=principal, data=msg("c@example.com"), settings=runtime.settings
        )
    await run_dispatcher_until(runtime, lambda: email_status(runtime, transactional.id) == "sent")
    assert email_status(runtime, transactional.id) == "sent"
    assert email_status(runtime, bulk.id) == "pending"
    with runtime.db.session() as session:
        assert session.get(Email, bulk.id).retry_count == 0  # type: ignore[union-attr]


def test_bulk_skips_leads_that_opted_out(runtime: Runtime, principal: Principal) -> None:
    from carteiro.leads.models import Lead, LeadEmail

    with runtime.db.session() as session:
        lead = Lead(tenant_id=principal.tenant_id, lead_id_externo="x1", nome="Ana")
        session.add(lead)
        session.flush()
        session.add(
            LeadEmail(
                lead_id=lead.lead_id,
                tenant_id=principal.tenant_id,
                email="ana@example.com",
                consentimento="opt_out",
            )
        )
    with runtime.db.session() as session:
        emails = service.create_batch(
            session,
            principal=principal,
            items=[msg("ana@example.com"), msg("bia@example.com")],
            settings=runtime.settings,
        )
        assert [e.status for e in emails] == ["suppressed", "pending"]
        assert "opt_out" in (emails[0].error_message or "")
