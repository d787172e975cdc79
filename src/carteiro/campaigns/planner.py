"""The planner: prepares due campaigns and enqueues, just in time, what the pool can send."""

from __future__ import annotations

import asyncio
import logging
import time as clock
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from carteiro.accounts import limits
from carteiro.accounts.models import Account
from carteiro.campaigns import (
    control,
    decision,
    engagement,
    guards,
    ledger,
    lifecycle,
    messages,
    zones,
)
from carteiro.campaigns.counters import Tally
from carteiro.campaigns.models import Campaign, CampaignRecipient
from carteiro.config import Settings
from carteiro.db import leases
from carteiro.db.base import table_of
from carteiro.db.types import UTCDateTime, utcnow
from carteiro.errors import CarteiroError
from carteiro.leads import consent, suppression
from carteiro.leads.models import Lead
from carteiro.loops import wait_or_stop
from carteiro.outbound import enqueue
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tracking.links import Scan

log = logging.getLogger("carteiro.campaigns")
R = CampaignRecipient
RECIPIENTS = table_of(CampaignRecipient)
RUNNING = ("scheduled", "preparing", "sending", "testing", "awaiting_winner")
LEASE_SECONDS = 15.0
# One planner round works this long at most before it lets the others run.
ROUND_SECONDS = 5.0


def accounts_for(session: Session, campaign: Campaign) -> list[Account]:
    pool = enqueue.load_pool(session, campaign.tenant_id).accounts
    if campaign.account_id is not None:
        return [a for a in pool if a.id == campaign.account_id]
    return [a for a in pool if enqueue._matches(a.email, campaign.from_route)]


def budget(
    session: Session, campaign: Campaign, *, settings: Settings, now: datetime
) -> tuple[int, int | None]:
    """(messages the campaign may have in the queue over its horizon, per day for the ETA).

    Each account's minute rate over the horizon, capped by what is left of its hour and day
    (warm-up included), times the campaign's share of the pool: the rest stays free for
    transactional mail. No account: the capture transport, paced by the batch setting."""
    accounts = accounts_for(session, campaign)
    if not accounts:
        return settings.campaign_batch_max, None
    used = limits.usage(session, account_ids=[a.id for a in accounts], now=now)
    minutes = max(1.0, campaign.horizon_seconds / 60)
    total = 0
    per_day = 0
    for account in accounts:
        if account.bulk_paused_until is not None and account.bulk_paused_until > now:
            continue
        left = limits.budget_of(account, used[account.id], now=now)
        caps = [c for c in (left.hour, left.day) if c is not None]
        if account.limit_per_minute is not None:
            caps.append(int(account.limit_per_minute * minutes))
        total += min(caps) if caps else settings.campaign_batch_max
        day = limits.day_limit(account, today=now.date())
        per_day += day if day is not None else 24 * 60 * (account.limit_per_minute or 60)
    return int(total * campaign.pool_share), int(per_day * campaign.pool_share)


def _window_checked(
    session: Session, campaign: Campaign, rows: list[CampaignRecipient], now: datetime
) -> list[CampaignRecipient]:
    """Rows whose local window is open now; the others move to their next window (a window
    missed because budgets ran out spills to the next day's, never into the night)."""
    if campaign.send_mode != "local" or not campaign.window_start or not campaign.window_end:
        return rows
    start = zones.parse_hhmm(campaign.window_start, field="window_start")
    end = zones.parse_hhmm(campaign.window_end, field="window_end")
    ready: list[CampaignRecipient] = []
    later: list[dict[str, object]] = []
    for row in rows:
        tz = row.tz or campaign.default_tz
        due = zones.next_in_window(now, tz=tz, start=start, end=end, weekdays=campaign.weekdays)
        if due == now:
            ready.append(row)
        else:
            later.append({"rid": row.id, "due": due})
    if later:
        session.execute(
            update(RECIPIENTS)
            .where(RECIPIENTS.c.id == bindparam("rid"))
            .values(due_at=bindparam("due")),
            later,
            execution_options={"synchronize_session": False},
        )
    return ready


def _skip(session: Session, skipped: list[tuple[CampaignRecipient, str]], tally: Tally) -> None:
    if not skipped:
        return
    session.execute(
        update(RECIPIENTS)
        .where(RECIPIENTS.c.id == bindparam("rid"), RECIPIENTS.c.status == "pending")
        .values(status="skipped", skip_reason=bindparam("why")),
        [{"rid": r.id, "why": why[:32]} for r, why in skipped],
        execution_options={"synchronize_session": False},
    )
    for row, _ in skipped:
        tally.add(row.variant_id, "skipped")


_QUEUED_PG = text(
    "UPDATE campaign_recipients AS r SET status = 'queued', email_id = v.eid, queued_at = :now "
    "FROM unnest(CAST(:rids AS BIGINT[]), CAST(:eids AS BIGINT[])) AS v(rid, eid) "
    "WHERE r.id = v.rid AND r.status = 'pending'"
).bindparams(bindparam("now", type_=UTCDateTime()))


def _mark_queued(session: Session, pairs: list[tuple[int, int]], now: datetime) -> None:
    """Each (ledger row, e-mail) still pending marked queued. PostgreSQL takes the batch as
    one statement over two arrays: an executemany of 1,000 updates was a tenth of a round."""
    if session.get_bind().dialect.name == "postgresql":
        rids, eids = [r for r, _ in pairs], [e for _, e in pairs]
        session.execute(_QUEUED_PG, {"rids": rids, "eids": eids, "now": now})
        return
    session.execute(
        update(RECIPIENTS)
        .where(RECIPIENTS.c.id == bindparam("rid"), RECIPIENTS.c.status == "pending")
        .values(status="queued", email_id=bindparam("eid"), queued_at=now),
        [{"rid": r, "eid": e} for r, e in pairs],
        execution_options={"synchronize_session": False},
    )


def enqueue_due(session: Session, campaign: Campaign, *, settings: Settings, now: datetime) -> int:
    """Takes the due pending rows the budget allows, re-checks suppression and consent, renders
    each, and enqueues them through the outbound service IN THIS TRANSACTION with their
    ledger rows marked queued: a crash loses neither, and never queues one twice."""
    allowed, _ = budget(session, campaign, settings=settings, now=now)
    room = min(allowed - ledger.in_flight(session, campaign.id), settings.campaign_batch_max)
    if room <= 0:
        return 0
    rows = list(
        session.scalars(
            select(R)
            .where(
                R.campaign_id == campaign.id,
                R.status == "pending",
                R.due_at <= now,
                R.variant_id.is_not(None),
            )
            .order_by(R.due_at, R.id)
            .limit(room)
        )
    )
    rows = _window_checked(session, campaign, rows, now)
    if not rows:
        return 0
    tally = Tally()
    addresses = [r.address for r in rows]
    blocked = suppression.is_suppressed(session, tenant_id=campaign.tenant_id, addresses=addresses)
    opted = consent.opted_out(session, tenant_id=campaign.tenant_id, addresses=addresses)
    skipped = [
        (r, "suppressed" if r.address in blocked else "opted_out")
        for r in rows
        if r.address in blocked or r.address in opted
    ]
    rows = [r for r in rows if r.address not in blocked and r.address not in opted]
    variants = {v.id: v for v in ledger.variants_of(session, campaign.id)}
    leads = {
        lead.lead_id: lead
        for lead in session.scalars(
            select(Lead).where(Lead.lead_id.in_([r.lead_id for r in rows if r.lead_id]))
        )
    }
    items: list[EmailCreate] = []
    found: list[Scan | None] = []
    kept: list[CampaignRecipient] = []
    for row in rows:
        try:
            item, links = messages.message_and_links(
                campaign,
                variants[row.variant_id or 0],
                row,
                leads.get(row.lead_id or 0),
                settings=settings,
            )
            items.append(item)
            found.append(links)
            kept.append(row)
        except CarteiroError:
            skipped.append((row, "missing_variable"))
        except (ValidationError, KeyError):
            skipped.append((row, "invalid"))
    _skip(session, skipped, tally)
    if items:
        queued = enqueue.create_batch(
            session,
            principal=messages.sender(campaign),
            items=items,
            settings=settings,
            source="campaign",
            links=found,
        )
        _mark_queued(session, [(r.id, q.id) for r, q in zip(kept, queued, strict=True)], now)
        for row in kept:
            tally.add(row.variant_id, "queued")
    tally.write(session, campaign_id=campaign.id, at=now)
    return len(items)


def step(session: Session, campaign: Campaign, *, settings: Settings, now: datetime) -> bool:
    """Moves one campaign on by one bounded piece of work; True when more is waiting now."""
    status = campaign.status
    if status == "scheduled":
        if campaign.send_mode == "at" and campaign.send_at and campaign.send_at > now:
            return False
        lifecycle.transition(session, campaign, "prepare", now=now)
        return True
    if status == "preparing":
        if not ledger.materialise_chunk(session, campaign, now=now):
            return True
        verb = "test" if campaign.ab_enabled and campaign.winner_variant_id is None else "send"
        lifecycle.transition(session, campaign, verb, now=now, prepared_at=now, started_at=now)
        control.notify(session, campaign, "campaign_started", audience=campaign.audience_total)
        return True
    if status not in ("sending", "testing", "awaiting_winner"):
        return False
    ledger.reconcile(session, campaign, now=now)
    if campaign.ab_enabled and status in ("testing", "awaiting_winner"):
        # Replies decide reply-metric tests. The sync reports each reply as it is stored
        # (`on_replies`); this join over the inbox since the start is a catch-up (replies a
        # sync stored before it reported them), so it runs only while a test is open.
        engagement.collect_replies(session, campaign)
    session.refresh(campaign)
    why = guards.reason_to_pause(campaign)
    if why is not None:
        control.pause(session, campaign, reason=why)
        return False
    warned = guards.warnings(campaign)
    if warned != (campaign.warnings or []):
        campaign.warnings = warned
    if status == "awaiting_winner":
        last = campaign.ab_last_test_send_at or now
        if now >= last + timedelta(seconds=campaign.ab_wait_seconds):
            decision.decide(session, campaign, now=now)
        return False
    try:
        with session.begin_nested():
            added = enqueue_due(session, campaign, settings=settings, now=now)
    except CarteiroError as exc:
        # Nothing of the round was enqueued; a person must fix the sender (or the content).
        session.refresh(campaign)
        control.pause(session, campaign, reason=f"cannot enqueue: {exc.message}")
        return False
    if status == "testing" and ledger.open_rows(session, campaign.id, phase="test") == 0:
        last = session.scalar(
            select(func.max(R.sent_at)).where(R.campaign_id == campaign.id, R.phase == "test")
        )
        lifecycle.transition(session, campaign, "await_winner", ab_last_test_send_at=last or now)
    elif status == "sending" and ledger.open_rows(session, campaign.id) == 0:
        lifecycle.transition(session, campaign, "finish", finished_at=now)
        control.notify(session, campaign, "campaign_finished", sent=campaign.sent)
    return added > 0 and added >= settings.campaign_batch_max


def running(session: Session) -> list[int]:
    stmt = select(Campaign.id).where(Campaign.status.in_(RUNNING)).order_by(Campaign.id)
    return list(session.scalars(stmt))


def tick(runtime: Runtime, *, owner: str, now: datetime | None = None) -> int:
    """One round over every running campaign, each under its own lease (PostgreSQL: an
    advisory lock for the transaction; SQLite: a lease row), so any number of workers may run
    this. Returns the steps taken."""
    with runtime.db.session() as session:
        ids = running(session)
    steps = 0
    for campaign_id in ids:
        deadline = clock.monotonic() + ROUND_SECONDS
        more = True
        while more and clock.monotonic() < deadline:
            more = False
            with runtime.db.session() as session:
                name = f"campaign:{campaign_id}"
                if not leases.try_lead(session, name=name, owner=owner, ttl=LEASE_SECONDS):
                    break
                campaign = session.get(Campaign, campaign_id)
                if campaign is None:
                    break
                more = step(session, campaign, settings=runtime.settings, now=now or utcnow())
                # Given up with the step's commit (SQLite): a worker killed mid-step holds it
                # for LEASE_SECONDS at most.
                leases.release(session, name=name, owner=owner)
                steps += 1
    return steps


async def campaign_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    owner = leases.worker_id()
    interval = runtime.settings.campaign_poll_interval
    while not stop.is_set():
        try:
            await asyncio.to_thread(tick, runtime, owner=owner)
        except Exception:
            log.exception("campaign planner round failed")
        await wait_or_stop(stop, interval)
