"""A campaign end to end on the capture transport: ledger, planner, queue, reconcile, finish;
consent and suppression at the three points; pause, resume, cancel; engagement counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from campkit import add_leads, campaign, ledger, make_campaign, schedule, tick
from sqlalchemy import select, update

from carteiro.campaigns import planner, service
from carteiro.campaigns.engagement import record_engagement
from carteiro.campaigns.models import Campaign, CampaignRecipient
from carteiro.db.types import utcnow
from carteiro.events.bus import Bounced
from carteiro.events.models import OutboxEvent
from carteiro.leads import suppression
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import run_dispatcher_until


def emails(runtime: Runtime, ids: list[int | None]) -> dict[int, Email]:
    with runtime.db.session() as session:
        rows = session.scalars(select(Email).where(Email.id.in_([i for i in ids if i])))
        return {e.id: e for e in rows}


def all_final(runtime: Runtime, campaign_id: int) -> bool:
    rows = ledger(runtime, campaign_id)
    found = emails(runtime, [r.email_id for r in rows])
    return all(e.status in ("sent", "failed", "suppressed") for e in found.values())


@pytest.fixture
def audience(runtime: Runtime, principal: Principal) -> list[int]:
    return add_leads(
        runtime,
        principal.tenant_id,
        [
            {
                "nome": "Padaria Sol",
                "contato_nome": "Ana",
                "email": "ana@sol.com",
                "phone": "+5592988887777",
            },
            {"nome": "Mercado Lua", "email": ["bia@lua.com", "ana@sol.com"]},  # shared address
            {"nome": "Saiu", "email": "saiu@x.com", "consent": "opt_out"},
            {"nome": "Bloqueado", "email": "bloq@x.com"},
            {"nome": "Tarde", "email": "tarde@x.com"},
            {"nome": "Inválido", "email": "inv@x.com", "valid": False},
            {"nome": "Outro", "status": "contatado", "email": "outro@x.com"},
        ],
    )


async def test_campaign_runs_to_finished_with_consent_checked_three_times(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    with runtime.db.session() as session:
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email="bloq@x.com",
            reason="manual",
            source="test",
        )
    cid = make_campaign(runtime, principal)
    schedule(runtime, principal, cid)
    now = utcnow()
    with runtime.db.session() as session:
        c = session.get_one(Campaign, cid)
        planner.step(session, c, settings=runtime.settings, now=now)  # scheduled → preparing
        planner.step(session, c, settings=runtime.settings, now=now)  # materialised → sending
        assert c.status == "sending" and c.audience_total == 5
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert set(rows) == {"ana@sol.com", "bia@lua.com", "saiu@x.com", "bloq@x.com", "tarde@x.com"}
    assert rows["saiu@x.com"].skip_reason == "opted_out"  # 1: when materialising
    assert rows["bloq@x.com"].skip_reason == "suppressed:manual"
    assert rows["ana@sol.com"].tz == "America/Manaus" and rows["ana@sol.com"].tz_source == "phone"
    assert rows["bia@lua.com"].tz_source == "default"

    with runtime.db.session() as session:  # 2: when enqueueing
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email="tarde@x.com",
            reason="manual",
            source="test",
        )
    tick(runtime)
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert (
        rows["tarde@x.com"].status == "skipped" and rows["tarde@x.com"].skip_reason == "suppressed"
    )
    assert rows["ana@sol.com"].status == rows["bia@lua.com"].status == "queued"

    with runtime.db.session() as session:  # 3: at send, as for any message
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email="bia@lua.com",
            reason="manual",
            source="test",
        )
    await run_dispatcher_until(runtime, lambda: all_final(runtime, cid))
    tick(runtime)
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert rows["ana@sol.com"].status == "sent" and rows["ana@sol.com"].sent_at is not None
    assert (rows["bia@lua.com"].status, rows["bia@lua.com"].skip_reason) == (
        "skipped",
        "suppressed_at_send",
    )
    c = campaign(runtime, cid)
    assert c.status == "finished" and c.finished_at is not None
    with runtime.db.session() as session:
        events = [
            (e.type, e.payload["campaign_id"])
            for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        ]
    assert events == [("campaign_started", cid), ("campaign_finished", cid)]
    assert (c.audience_total, c.queued, c.sent, c.skipped, c.failed) == (5, 2, 1, 4, 0)
    sent = emails(runtime, [rows["ana@sol.com"].email_id])[rows["ana@sol.com"].email_id]
    assert sent.subject == "Oi Padaria Sol" and sent.lane == 1 and sent.source == "campaign"
    with runtime.db.session() as session:
        raw = session.get_one(Email, sent.id).raw
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    assert b"Ana" in raw and b"/u/" in raw

    # Engagement arrives from tracking: counters and the ledger, unique once.
    rid = rows["ana@sol.com"].id
    with runtime.db.session() as session:
        assert record_engagement(
            session, campaign_id=cid, recipient_id=rid, kind="opened", human=False, at=utcnow()
        )
        assert record_engagement(
            session, campaign_id=cid, email_id=sent.id, kind="clicked", human=True, at=utcnow()
        )
        record_engagement(
            session, campaign_id=cid, recipient_id=rid, kind="clicked", human=True, at=utcnow()
        )
        assert not record_engagement(
            session, campaign_id=cid + 1, recipient_id=rid, kind="opened", human=True
        )
    c = campaign(runtime, cid)
    assert (c.opened_unique, c.opened_human_unique, c.clicked_unique) == (1, 1, 1)
    row = next(r for r in ledger(runtime, cid) if r.id == rid)
    assert (row.machine_opens, row.opens, row.clicks) == (1, 0, 2)
    with runtime.db.session() as session:
        st = service.stats(session, principal=principal, campaign_id=cid, with_accounts=True)
    assert st.recipients["sent"] == 1 and st.accounts[0].account == "capture"
    assert sum(h.sent for h in st.hourly) == 1 and sum(h.clicked for h in st.hourly) == 2


def test_pause_holds_queue_rows_resume_releases_cancel_cancels(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    cid = make_campaign(runtime, principal)
    schedule(runtime, principal, cid)
    tick(runtime)
    queued = [r.email_id for r in ledger(runtime, cid) if r.status == "queued"]
    assert len(queued) == 4  # everyone but the opted-out address
    with runtime.db.session() as session:
        service.pause(session, principal=principal, campaign_id=cid)
    assert {e.status for e in emails(runtime, queued).values()} == {"held"}
    assert campaign(runtime, cid).paused_from == "sending"
    tick(runtime)  # a paused campaign is left alone
    assert campaign(runtime, cid).status == "paused"
    with runtime.db.session() as session:
        service.resume(session, principal=principal, campaign_id=cid)
    assert campaign(runtime, cid).status == "sending"
    assert {e.status for e in emails(runtime, queued).values()} == {"pending"}
    with runtime.db.session() as session:
        service.cancel(session, principal=principal, campaign_id=cid)
    assert {e.status for e in emails(runtime, queued).values()} == {"cancelled"}
    with runtime.db.session() as session:
        c = session.get_one(Campaign, cid)
        from carteiro.campaigns import ledger as ledger_

        ledger_.reconcile(session, c, now=utcnow())
    assert {r.status for r in ledger(runtime, cid)} <= {"cancelled", "skipped"}


def test_scheduled_at_waits_and_budget_paces_the_planner(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    later = utcnow() + timedelta(hours=1)
    cid = make_campaign(runtime, principal, schedule={"mode": "at", "send_at": later.isoformat()})
    schedule(runtime, principal, cid)
    tick(runtime)
    assert campaign(runtime, cid).status == "scheduled"
    runtime.settings.campaign_batch_max = 2  # the capture "pool" takes two per round
    tick(runtime, now=later + timedelta(seconds=1))
    rows = ledger(runtime, cid)
    assert sum(r.status == "queued" for r in rows) == 2
    assert all(r.due_at is not None and r.due_at >= later for r in rows if r.status != "skipped")
    tick(runtime, now=later + timedelta(seconds=2))  # still two in flight: nothing more
    assert sum(r.status == "queued" for r in ledger(runtime, cid)) == 2


def test_guard_pauses_on_hard_bounces(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    cid = make_campaign(runtime, principal)
    schedule(runtime, principal, cid)
    tick(runtime)
    with runtime.db.session() as session:
        session.execute(
            update(Campaign).where(Campaign.id == cid).values(sent=300, bounced_hard=20)
        )
    tick(runtime)
    c = campaign(runtime, cid)
    assert c.status == "paused" and c.status_reason and "hard bounces 6.7%" in c.status_reason
    queued = [r.email_id for r in ledger(runtime, cid) if r.status == "queued"]
    assert {e.status for e in emails(runtime, queued).values()} == {"held"}


def test_local_windows_across_zones_with_an_injected_clock(
    runtime: Runtime, principal: Principal
) -> None:
    add_leads(
        runtime,
        principal.tenant_id,
        [
            {"nome": "SP", "email": "sp@x.com", "phone": "+5511988887777"},
            {"nome": "Manaus", "email": "am@x.com", "phone": "+5592988887777"},
            {"nome": "Noronha", "email": "fn@x.com"},
        ],
    )
    cid = make_campaign(
        runtime,
        principal,
        schedule={
            "mode": "local",
            "window_start": "09:00",
            "window_end": "18:00",
            "default_tz": "America/Noronha",
        },
    )
    schedule(runtime, principal, cid)
    # 11:30 UTC on a Tuesday: 08:30 in São Paulo, 07:30 in Manaus, 09:30 in Noronha.
    at = datetime(2026, 12, 1, 11, 30, tzinfo=UTC)
    tick(runtime, now=at)
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert rows["fn@x.com"].status == "queued" and rows["fn@x.com"].tz_source == "default"
    assert rows["sp@x.com"].status == rows["am@x.com"].status == "pending"
    assert rows["sp@x.com"].due_at == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert rows["am@x.com"].due_at == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    tick(runtime, now=datetime(2026, 12, 1, 12, 5, tzinfo=UTC))
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert rows["sp@x.com"].status == "queued" and rows["am@x.com"].status == "pending"
    # Budgets ran out all day for Manaus: at 22:30 UTC (18:30 there) its window has closed,
    # so the row moves to the next morning instead of going out at night.
    late = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)
    with runtime.db.session() as session:
        session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.address == "am@x.com")
            .values(due_at=late - timedelta(hours=9))
        )
    tick(runtime, now=late)
    am = next(r for r in ledger(runtime, cid) if r.address == "am@x.com")
    assert am.status == "pending" and am.due_at == datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


def test_bounces_from_the_inbox_reach_the_campaign_through_the_bus(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    cid = make_campaign(runtime, principal)
    schedule(runtime, principal, cid)
    tick(runtime)
    with runtime.db.session() as session:
        runtime.bus.publish(
            session, Bounced(tenant_id=principal.tenant_id, address="Ana@Sol.com", kind="hard")
        )
        runtime.bus.publish(
            session, Bounced(tenant_id=principal.tenant_id, address="ana@sol.com", kind="hard")
        )  # once
        runtime.bus.publish(
            session, Bounced(tenant_id=principal.tenant_id, address="bia@lua.com", kind="complaint")
        )
    c = campaign(runtime, cid)
    assert (c.bounced_hard, c.complained) == (1, 1)
    row = next(r for r in ledger(runtime, cid) if r.address == "ana@sol.com")
    assert row.bounced_at is not None


async def test_send_to_new_members_and_resend_to_non_clickers(
    runtime: Runtime, principal: Principal
) -> None:
    add_leads(runtime, principal.tenant_id, [{"email": "a@x.com"}, {"email": "b@x.com"}])
    cid = make_campaign(runtime, principal)
    schedule(runtime, principal, cid)
    tick(runtime)
    await run_dispatcher_until(runtime, lambda: all_final(runtime, cid))
    tick(runtime)
    assert campaign(runtime, cid).status == "finished"
    first = {r.address: r.email_id for r in ledger(runtime, cid)}
    add_leads(runtime, principal.tenant_id, [{"email": "novo@x.com"}, {"email": "a@x.com"}])
    with runtime.db.session() as session:
        service.send_to_new_members(session, principal=principal, campaign_id=cid)
    tick(runtime)
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert set(rows) == {"a@x.com", "b@x.com", "novo@x.com"}  # a@x.com not twice
    assert rows["novo@x.com"].status == "queued"
    assert {a: rows[a].email_id for a in first} == first  # the first ones left alone
    assert campaign(runtime, cid).audience_total == 3
    await run_dispatcher_until(runtime, lambda: all_final(runtime, cid))
    tick(runtime)
    row = next(r for r in ledger(runtime, cid) if r.address == "a@x.com")
    with runtime.db.session() as session:
        record_engagement(session, campaign_id=cid, recipient_id=row.id, kind="clicked", human=True)
        follow = service.resend_to_non_clickers(session, principal=principal, campaign_id=cid)
        follow_id = follow.id
        assert follow.status == "draft"
    from carteiro.campaigns import catalog
    from carteiro.campaigns import ledger as ledger_

    with runtime.db.session() as session:
        c = session.get_one(Campaign, follow_id)
        got = catalog.preview(
            session,
            tenant_id=principal.tenant_id,
            definition=ledger_.audience_definition(session, c),
        )
    assert sorted(e for s in got.sample for e in s.emails) == ["b@x.com", "novo@x.com"]


def test_materialisation_resumes_from_its_cursor_and_skips_other_tenants(
    runtime: Runtime, principal: Principal
) -> None:
    from carteiro.campaigns import ledger as ledger_
    from carteiro.tenancy import service as tenancy

    with runtime.db.session() as session:
        other = tenancy.create_tenant(session, slug="outra").id
    for i in range(5):  # interleaved ids: the windows hold both tenants' leads
        add_leads(runtime, principal.tenant_id, [{"email": f"m{i}@x.com"}])
        add_leads(runtime, other, [{"email": f"o{i}@x.com"}])
    cid = make_campaign(runtime, principal)
    with runtime.db.session() as session:
        c = session.get_one(Campaign, cid)
        assert not ledger_.materialise_chunk(session, c, now=utcnow(), chunk=3)
        raise_after = c.cursor_lead_id
    # A worker killed here keeps what it committed; the next one starts at the cursor.
    done, rounds = False, 0
    while not done:
        with runtime.db.session() as session:
            c = session.get_one(Campaign, cid)
            assert c.cursor_lead_id >= raise_after
            done = ledger_.materialise_chunk(session, c, now=utcnow(), chunk=3)
            rounds += 1
    rows = ledger(runtime, cid)
    assert sorted(r.address for r in rows) == [f"m{i}@x.com" for i in range(5)]
    assert campaign(runtime, cid).audience_total == 5 and rounds >= 3


def test_a_redone_chunk_adds_and_counts_nothing_twice(
    runtime: Runtime, principal: Principal
) -> None:
    """The ledger's unique key decides what a chunk adds: a chunk run again (its cursor move
    lost) and an address two leads share are counted once, the skipped ones too."""
    from carteiro.campaigns import ledger as ledger_

    add_leads(
        runtime,
        principal.tenant_id,
        [
            {"email": "a@x.com"},
            {"email": "A@x.com"},  # the same address on a second lead
            {"email": "b@x.com", "consent": "opt_out"},
            {"email": "c@x.com"},
        ],
    )
    with runtime.db.session() as session:
        suppression.suppress(
            session, tenant_id=principal.tenant_id, email="c@x.com", reason="manual", source="test"
        )
    cid = make_campaign(runtime, principal)
    for _ in range(2):
        with runtime.db.session() as session:
            c = session.get_one(Campaign, cid)
            assert ledger_.materialise_chunk(session, c, now=utcnow())
        with runtime.db.session() as session:
            session.execute(update(Campaign).where(Campaign.id == cid).values(cursor_lead_id=0))
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert sorted(rows) == ["a@x.com", "b@x.com", "c@x.com"]
    assert rows["a@x.com"].status == "pending"
    assert (rows["b@x.com"].status, rows["b@x.com"].skip_reason) == ("skipped", "opted_out")
    assert rows["c@x.com"].status == "skipped"
    assert rows["c@x.com"].skip_reason is not None
    assert rows["c@x.com"].skip_reason.startswith("suppressed")
    c = campaign(runtime, cid)
    assert (c.audience_total, c.skipped) == (3, 2)
