"""A/B through the planner: test set sent, wait from the last test send, one decision, the
remainder gets the winner in the same transaction; manual decision."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from campkit import BODY, add_leads, campaign, ledger, make_campaign, schedule, tick
from sqlalchemy import func, select

from carteiro.accounts.models import Account
from carteiro.campaigns import decision, service
from carteiro.campaigns.engagement import record_engagement
from carteiro.campaigns.models import AbDecision, Campaign
from carteiro.db.types import utcnow
from carteiro.errors import Conflict
from carteiro.inbound.models import InboxMessage, InboxThread
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import run_dispatcher_until

AB: dict[str, Any] = {
    "variants": [
        {"subject": "A {{ email }}", "content": BODY},
        {"subject": "B {{ email }}", "content": BODY + "<p>B</p>", "weight": 1},
    ],
    "ab": {
        "enabled": True,
        "test_fraction": 0.5,
        "wait_seconds": 3600,
        "min_per_variant": 1,
        "confidence": 0.6,
        "fallback": "control",
    },
}


@pytest.fixture
def audience(runtime: Runtime, principal: Principal) -> list[int]:
    return add_leads(runtime, principal.tenant_id, [{"email": f"p{i}@ab.com"} for i in range(40)])


def sent_all(runtime: Runtime, cid: int) -> bool:
    tick(runtime)
    return campaign(runtime, cid).status != "testing"


async def run_test_phase(runtime: Runtime, principal: Principal) -> int:
    cid = make_campaign(runtime, principal, **AB)
    schedule(runtime, principal, cid)
    tick(runtime)
    assert campaign(runtime, cid).status == "testing"
    await run_dispatcher_until(runtime, lambda: sent_all(runtime, cid))
    assert campaign(runtime, cid).status == "awaiting_winner"
    return cid


async def test_winner_by_clicks_goes_to_the_remainder(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    cid = await run_test_phase(runtime, principal)
    rows = ledger(runtime, cid)
    test = [r for r in rows if r.phase == "test"]
    remainder = [r for r in rows if r.phase == "remainder"]
    assert test and remainder and all(r.variant_id is None for r in remainder)
    assert all(r.status == "sent" for r in test)
    c = campaign(runtime, cid)
    b_id = max(r.variant_id or 0 for r in test)
    for r in test:
        if r.variant_id == b_id:
            with runtime.db.session() as session:
                record_engagement(
                    session, campaign_id=cid, recipient_id=r.id, kind="clicked", human=True
                )
    tick(runtime)  # the wait has not passed: nothing decided
    assert campaign(runtime, cid).status == "awaiting_winner"
    later = (c.ab_last_test_send_at or utcnow()) + timedelta(seconds=3601)
    tick(runtime, now=later)
    c = campaign(runtime, cid)
    assert c.status == "sending" and c.winner_variant_id == b_id
    assert all(r.variant_id == b_id for r in ledger(runtime, cid) if r.phase == "remainder")
    with runtime.db.session() as session:
        decision = session.scalars(select(AbDecision)).one()
    assert decision.decided_by == "auto" and decision.variant_id == b_id


async def test_two_deciders_record_one_decision(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    cid = await run_test_phase(runtime, principal)
    results: list[object] = []

    def decide() -> None:
        try:
            with runtime.db.session() as session:
                c = session.get_one(Campaign, cid)
                results.append(decision.decide(session, c, now=utcnow() + timedelta(days=1)))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=decide) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(AbDecision)) == 1
    assert sum(isinstance(r, AbDecision) for r in results) == 1
    # No click at all: the fallback (control = first variant) was chosen and recorded.
    c = campaign(runtime, cid)
    assert c.status == "sending" and c.winner_variant_id == min(
        r.variant_id or 10**9 for r in ledger(runtime, cid) if r.phase == "test"
    )


async def test_manual_decision_once(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    cid = await run_test_phase(runtime, principal)
    pub = service.ab_state
    with runtime.db.session() as session:
        state = pub(session, principal=principal, campaign_id=cid)
        chosen = state.variants[1].id
        state = service.ab_decide(session, principal=principal, campaign_id=cid, variant_id=chosen)
    assert state.decision and state.decision.decided_by.startswith("manual")
    with runtime.db.session() as session, pytest.raises(Conflict):
        service.ab_decide(session, principal=principal, campaign_id=cid, variant_id=chosen)


async def test_winner_by_replies_from_the_inbox(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    AB["ab"]["metric"] = "replies"
    try:
        cid = await run_test_phase(runtime, principal)
    finally:
        AB["ab"]["metric"] = "clicks"
    rows = [r for r in ledger(runtime, cid) if r.phase == "test"]
    b_id = max(r.variant_id or 0 for r in rows)
    now = utcnow()
    with runtime.db.session() as session:
        # An inbox needs an account; a paused one sends nothing for the campaign.
        account = Account(
            tenant_id=principal.tenant_id,
            name="caixa",
            email="caixa@empresa.com",
            smtp_host="localhost",
            smtp_port=25,
            status="paused",
        )
        session.add(account)
        session.flush()
        thread = InboxThread(
            tenant_id=principal.tenant_id,
            account_id=account.id,
            first_message_at=now,
            last_message_at=now,
        )
        session.add(thread)
        session.flush()
        for r in rows:
            if r.variant_id == b_id:
                email = session.get_one(Email, r.email_id)
                session.add(
                    InboxMessage(
                        tenant_id=principal.tenant_id,
                        account_id=account.id,
                        thread_id=thread.id,
                        in_reply_to=email.message_id,
                        from_address=r.address,
                        to_addresses=[],
                        cc_addresses=[],
                        reply_to=[],
                        date=now,
                    )
                )
    c = campaign(runtime, cid)
    tick(runtime, now=(c.ab_last_test_send_at or now) + timedelta(seconds=3601))
    c = campaign(runtime, cid)
    assert c.replied == sum(r.variant_id == b_id for r in rows)
    assert c.status == "sending" and c.winner_variant_id == b_id
