"""The dashboard's numbers: hourly counts from the events, the alerts, the page itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from carteiro.inbound.models import InboxMessage, InboxThread
from carteiro.outbound import activity
from carteiro.outbound import service as outbound
from carteiro.outbound.models import EmailEvent
from carteiro.outbound.schemas import EmailCreate
from carteiro.responder.models import ResponderJob
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


def _email(runtime: Runtime, principal: Principal, account_id: int | None) -> int:
    with runtime.db.session() as session:
        email, _ = outbound.create(
            session,
            principal=principal,
            data=EmailCreate(to_email="ana@example.com", subject="Oi", body="corpo"),
            settings=runtime.settings,
        )
        email.account_id = account_id
        return email.id


def _events(runtime: Runtime, tenant_id: int, email_id: int, *events: tuple[str, datetime]) -> None:
    with runtime.db.session() as session:
        session.add_all(
            EmailEvent(tenant_id=tenant_id, email_id=email_id, type=t, created_at=at)
            for t, at in events
        )


def test_hourly_counts_put_each_event_in_its_hour_and_filter_by_account(
    runtime: Runtime, principal: Principal, make_account: Callable[[str], int]
) -> None:
    tid = principal.tenant_id
    mine, other = make_account("vendas"), make_account("cobranca")
    a, b = _email(runtime, principal, mine), _email(runtime, principal, other)
    _events(
        runtime,
        tid,
        a,
        ("sent", NOW - timedelta(minutes=10)),  # the current hour (15:00)
        ("sent", NOW - timedelta(minutes=31)),  # 14:59: the hour before
        ("bounce_hard", NOW - timedelta(hours=2)),
        ("deferred", NOW - timedelta(minutes=5)),  # not counted
        ("sent", NOW - timedelta(hours=24)),  # 15:30 yesterday: outside the 24 buckets
        ("bounce_soft", NOW.replace(minute=0) - timedelta(hours=3)),  # 12:00 sharp: 12:00's
    )
    _events(
        runtime, tid, b, ("dead", NOW - timedelta(minutes=20)), ("failed", NOW - timedelta(hours=5))
    )
    with runtime.db.session() as session:
        every = activity.hourly(session, tenant_id=tid, now=NOW)
        only_mine = activity.hourly(session, tenant_id=tid, account_ids={mine}, now=NOW)
        none = activity.hourly(session, tenant_id=tid, account_ids=set(), now=NOW)
    assert len(every.hours) == 24
    assert every.hours[-1].start == NOW.replace(minute=0)
    assert every.hours[0].start == NOW.replace(minute=0) - timedelta(hours=23)
    assert (every.hours[-1].sent, every.hours[-2].sent, every.hours[-3].bounced) == (1, 1, 1)
    assert every.hours[-4].bounced == 1 and every.hours[-5].bounced == 0
    assert (every.sent, every.failed, every.bounced) == (2, 2, 2)
    assert every.hours[-1].failed == 1 and every.hours[-6].failed == 1
    assert (every.failed_last_hour, every.dead_last_hour) == (1, 1)
    assert (only_mine.sent, only_mine.failed, only_mine.bounced) == (2, 0, 2)
    assert (none.sent, none.failed) == (0, 0)
    # Another tenant sees nothing of this one.
    with runtime.db.session() as session:
        assert activity.hourly(session, tenant_id=tid + 1, now=NOW).sent == 0


def test_alerts_for_failures_dead_letters_and_bounce_rate() -> None:
    hours = [activity.HourCounts(NOW, sent=100, failed=0, bounced=0)]
    calm = activity.Activity(hours, failed_last_hour=10, dead_last_hour=0, dead_previous_hour=3)
    assert activity.alerts_for(calm) == []
    busy = activity.Activity(
        [activity.HourCounts(NOW, sent=100, failed=11, bounced=6)],
        failed_last_hour=11,
        dead_last_hour=2,
        dead_previous_hour=0,
    )
    codes = {a.code: a.values for a in activity.alerts_for(busy)}
    assert set(codes) == {"failures", "dead_letters", "bounce_rate"}
    assert codes["failures"]["count"] == 11 and codes["bounce_rate"]["rate"] == 0.06
    exactly_five = activity.Activity(
        [activity.HourCounts(NOW, sent=100, failed=0, bounced=5)], 0, 0, 0
    )
    assert activity.alerts_for(exactly_five) == []


def test_dashboard_page_shows_the_alerts_numbers_and_an_accessible_table(
    runtime: Runtime,
    principal: Principal,
    as_user: Callable[..., TestClient],
    make_account: Callable[[str], int],
) -> None:
    account = make_account("vendas")
    email_id = _email(runtime, principal, account)
    now = datetime.now(UTC)
    _events(runtime, principal.tenant_id, email_id, *[("failed", now - timedelta(minutes=1))] * 11)
    page = as_user("admin").get("/ui/")
    assert page.status_code == 200
    assert 'data-alert="failures"' in page.text and "11 mensagens falharam" in page.text
    assert 'id="hourly-data"' in page.text and 'data-chart="hourly-data"' in page.text
    assert '<table class="table table-sm table-striped mt-2" id="hourly-table">' in page.text
    assert 'data-stat="pending">1<' in page.text
    assert 'data-account="vendas"' in page.text


def test_empty_dashboard_says_what_to_do_next(as_user: Callable[..., TestClient]) -> None:
    admin = as_user("admin").get("/ui/").text
    assert "Nenhuma conta de envio ainda" in admin and "carteiro accounts add" in admin
    assert "Nenhuma mensagem nas últimas 24 horas." in admin
    viewer = as_user("viewer").get("/ui/").text
    assert "Nenhuma conta de e-mail foi compartilhada com você ainda." in viewer


def test_the_queue_pane_is_only_the_queue(as_user: Callable[..., TestClient]) -> None:
    pane = as_user("viewer").get("/ui/dashboard/pane/queue")
    assert pane.status_code == 200
    assert pane.text.lstrip().startswith('<section id="queue"') and "<html" not in pane.text
    assert "<h1" not in pane.text


def test_ai_replies_get_a_card_once_there_are_jobs(
    runtime: Runtime,
    principal: Principal,
    as_user: Callable[..., TestClient],
    make_account: Callable[[str], int],
) -> None:
    account = make_account("atendimento")
    admin = as_user("admin")
    assert 'id="ai-replies"' not in admin.get("/ui/").text
    with runtime.db.session() as session:
        thread = InboxThread(
            tenant_id=principal.tenant_id,
            account_id=account,
            first_message_at=NOW,
            last_message_at=NOW,
        )
        session.add(thread)
        session.flush()
        for status, elapsed in (("completed", 800), ("completed", 1200), ("dead_letter", None)):
            message = InboxMessage(
                tenant_id=principal.tenant_id,
                thread_id=thread.id,
                account_id=account,
                to_addresses=[],
                cc_addresses=[],
                reply_to=[],
                date=NOW,
            )
            session.add(message)
            session.flush()
            session.add(
                ResponderJob(
                    tenant_id=principal.tenant_id,
                    message_id=message.id,
                    thread_id=thread.id,
                    status=status,
                    processing_time_ms=elapsed,
                    completed_at=datetime.now(UTC),
                )
            )
    page = admin.get("/ui/").text
    assert 'id="ai-replies"' in page and "Respostas por IA" in page
    assert 'data-stat="ai-completed">2<' in page and 'data-stat="ai-dead">1<' in page
    assert 'data-stat="ai-p95">1180 ms<' in page
    assert "<code>carteiro responder requeue</code>" in page


def test_the_queue_counts_follow_the_persons_mailboxes(
    runtime: Runtime,
    principal: Principal,
    as_user: Callable[..., TestClient],
    make_account: Callable[[str], int],
) -> None:
    granted, other = make_account("vendas"), make_account("cobranca")
    for account in (granted, other, other):
        _email(runtime, principal, account)
    admin = as_user("admin")
    operator = as_user("operator", "op@example.com", grants=(granted,))
    for url in ("/ui/", "/ui/dashboard/pane/queue"):
        assert 'data-stat="pending">3<' in admin.get(url).text
        assert 'data-stat="pending">1<' in operator.get(url).text
