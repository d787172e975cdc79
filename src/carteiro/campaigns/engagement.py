"""Engagement on the ledger: opens, clicks and replies of a recipient, bounces and complaints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from carteiro.campaigns.counters import Tally
from carteiro.campaigns.models import Campaign, CampaignRecipient
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.events.bus import Bounced, RepliesArrived, Unsubscribed
from carteiro.inbound.dbutil import chunks
from carteiro.inbound.models import InboxMessage
from carteiro.outbound.models import Email
from carteiro.tracking.events import Clicked, Opened

R = CampaignRecipient


def _recipient(
    session: Session, *, campaign_id: int, recipient_id: int | None, email_id: int | None
) -> CampaignRecipient | None:
    if recipient_id is not None:
        row = session.get(CampaignRecipient, recipient_id)
        return row if row is not None and row.campaign_id == campaign_id else None
    if email_id is not None:
        return session.scalars(
            select(R).where(R.email_id == email_id, R.campaign_id == campaign_id)
        ).first()
    return None


def _first(session: Session, rid: int, column: Any, at: datetime, **extra: Any) -> bool:
    """Sets a first-time timestamp once; True for the caller that set it (concurrency-safe)."""
    stmt = update(R).where(R.id == rid, column.is_(None)).values({column.key: at, **extra})
    return dml(session, stmt, execution_options={"synchronize_session": False}).rowcount == 1


def record_engagement(
    session: Session,
    *,
    campaign_id: int,
    recipient_id: int | None = None,
    email_id: int | None = None,
    kind: Literal["opened", "clicked", "replied"],
    human: bool,
    at: datetime | None = None,
) -> bool:
    """Counts an open, click or reply of one recipient (by ledger row or queue message):
    totals always, unique counters the first time; machine clicks never count as unique
    clicks, and a human click implies a human open. False when no such recipient."""
    at = at or utcnow()
    row = _recipient(session, campaign_id=campaign_id, recipient_id=recipient_id, email_id=email_id)
    if row is None:
        return False
    tally = Tally()
    variant = row.variant_id
    if kind == "replied":
        if _first(session, row.id, R.replied_at, at):
            tally.add(variant, "replied")
    elif kind == "opened" or (kind == "clicked" and human):
        if kind == "opened":
            counter = R.opens if human else R.machine_opens
            session.execute(
                update(R).where(R.id == row.id).values({counter.key: counter + 1}),
                execution_options={"synchronize_session": False},
            )
            tally.add(variant, "opened")
        if _first(session, row.id, R.first_open_at, at):
            tally.add(variant, "opened_unique")
        if human and _first(session, row.id, R.first_human_open_at, at):
            tally.add(variant, "opened_human_unique")
    if kind == "clicked":
        session.execute(
            update(R).where(R.id == row.id).values(clicks=R.clicks + 1),
            execution_options={"synchronize_session": False},
        )
        tally.add(variant, "clicked")
        if human and _first(session, row.id, R.first_click_at, at):
            tally.add(variant, "clicked_unique")
    tally.write(session, campaign_id=campaign_id, at=at)
    session.expire(row)
    return True


def on_bounce(session: Session, event: Bounced) -> None:
    """A bounce or complaint from the inbox: counted on the latest campaign that mailed the
    address (the guards read these counters)."""
    row = session.scalars(
        select(R)
        .where(R.tenant_id == event.tenant_id, R.address == event.address.strip().lower())
        .where(R.status.in_(("sent", "queued")))
        .order_by(R.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return
    now = utcnow()
    column = R.complained_at if event.kind == "complaint" else R.bounced_at
    if not _first(session, row.id, column, now):
        return
    counter = {"hard": "bounced_hard", "soft": "bounced_soft", "complaint": "complained"}
    tally = Tally()
    tally.add(row.variant_id, counter[event.kind])
    if event.kind != "complaint":
        tally.add(row.variant_id, "bounced")
    tally.write(session, campaign_id=row.campaign_id, at=now)


def on_unsubscribed(session: Session, event: Unsubscribed) -> None:
    """An opt-out through a campaign message's link: counted on the campaign and the
    recipient's variant. Test sends (outside the ledger) and other mail count nothing."""
    if event.campaign_id is None:
        return
    row = session.execute(
        select(R.id, R.variant_id).where(
            R.campaign_id == event.campaign_id,
            R.tenant_id == event.tenant_id,
            R.address == event.address.strip().lower(),
        )
    ).first()
    if row is None:
        return
    tally = Tally()
    tally.add(row.variant_id, "unsubscribed")
    tally.write(session, campaign_id=event.campaign_id, at=utcnow())


def on_tracked(session: Session, events: list[Opened | Clicked]) -> None:
    """Classified opens and clicks of campaign messages, counted on their ledger rows (the
    campaigns of a sweep's messages found in one query). Anonymous hits carry no message,
    so they count only in tracking's own numbers."""
    emails = {e.email_id for e in events if e.email_id is not None}
    if not emails:
        return
    campaigns = {
        email_id: campaign_id
        for email_id, campaign_id in session.execute(
            select(R.email_id, R.campaign_id).where(R.email_id.in_(emails))
        )
    }
    for event in events:
        campaign_id = campaigns.get(event.email_id) if event.email_id is not None else None
        if campaign_id is None:
            continue
        record_engagement(
            session,
            campaign_id=campaign_id,
            email_id=event.email_id,
            kind="opened" if isinstance(event, Opened) else "clicked",
            human=event.human,
            at=event.at,
        )


def on_replies(session: Session, event: RepliesArrived) -> None:
    """Marks the campaign recipients these replies answer (once each), as the sync stores
    them: the counters and the `replied` segments follow every campaign, A/B or not."""
    first = {r.in_reply_to: r.at for r in sorted(event.replies, key=lambda r: r.at)}
    for piece in chunks(list(first)):
        rows = session.execute(
            select(R.id, R.campaign_id, Email.message_id)
            .join(Email, Email.id == R.email_id)
            .where(
                Email.tenant_id == event.tenant_id,
                Email.message_id.in_(piece),
                R.replied_at.is_(None),
            )
        ).all()
        for rid, campaign_id, message_id in rows:
            record_engagement(
                session,
                campaign_id=campaign_id,
                recipient_id=rid,
                kind="replied",
                human=True,
                at=first[message_id],
            )


def collect_replies(session: Session, campaign: Campaign) -> int:
    """Replies from the inbox: an incoming message whose In-Reply-To is one of the campaign's
    Message-IDs marks that recipient replied (once). Returns how many were new."""
    if campaign.started_at is None:
        return 0
    found = session.execute(
        select(R.id, func.min(InboxMessage.date))
        .join(Email, Email.id == R.email_id)
        .join(
            InboxMessage,
            (InboxMessage.in_reply_to == Email.message_id)
            & (InboxMessage.tenant_id == campaign.tenant_id),
        )
        .where(
            R.campaign_id == campaign.id,
            R.replied_at.is_(None),
            R.email_id.is_not(None),
            InboxMessage.direction == "in",
            InboxMessage.created_at >= campaign.started_at,
        )
        .group_by(R.id)
    ).all()
    for rid, at in found:
        record_engagement(
            session, campaign_id=campaign.id, recipient_id=rid, kind="replied", human=True, at=at
        )
    return len(found)
