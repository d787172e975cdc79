"""The recipients ledger: materialise the audience in chunks, follow the queue, record events."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from carteiro.campaigns import ab, segments, zones
from carteiro.campaigns.counters import Tally
from carteiro.campaigns.models import Campaign, CampaignRecipient, CampaignVariant, Segment
from carteiro.db import bulk
from carteiro.db.base import table_of
from carteiro.db.results import dml
from carteiro.leads import consent, suppression
from carteiro.leads.models import Lead, LeadEmail, LeadTelefone
from carteiro.outbound.models import Email

CHUNK = 5000
DEFINITION: TypeAdapter[Any] = TypeAdapter(segments.Definition)
R = CampaignRecipient
RECIPIENTS = table_of(CampaignRecipient)
# A queue status that is final, and the ledger status it becomes.
FINAL = {
    "sent": "sent",
    "failed": "failed",
    "dead": "failed",
    "cancelled": "cancelled",
    "suppressed": "skipped",
}


def variants_of(session: Session, campaign_id: int) -> list[CampaignVariant]:
    stmt = select(CampaignVariant).where(CampaignVariant.campaign_id == campaign_id)
    return list(session.scalars(stmt.order_by(CampaignVariant.id)))


def due_at(campaign: Campaign, *, tz: str, now: datetime) -> datetime:
    start = max(now, campaign.send_at) if campaign.send_at else now
    if campaign.send_mode != "local" or not campaign.window_start or not campaign.window_end:
        return start
    return zones.next_in_window(
        start,
        tz=tz,
        start=zones.parse_hhmm(campaign.window_start, field="window_start"),
        end=zones.parse_hhmm(campaign.window_end, field="window_end"),
        weekdays=campaign.weekdays,
    )


def audience_definition(session: Session, campaign: Campaign) -> Any:
    raw = campaign.audience
    if raw is None and campaign.segment_id is not None:
        segment = session.get(Segment, campaign.segment_id)
        raw = segment.definition if segment is not None else None
    if raw is None:
        return segments.StaticDefinition(lead_ids=[])
    return DEFINITION.validate_python(raw)


def materialise_chunk(
    session: Session, campaign: Campaign, *, now: datetime, chunk: int = CHUNK
) -> bool:
    """Adds the next `chunk` leads past the stored cursor to the ledger, in this transaction
    with the cursor's move, so a killed worker resumes exactly there. True when done."""
    definition = audience_definition(session, campaign)
    clause = segments.where(session, tenant_id=campaign.tenant_id, definition=definition, now=now)
    # The chunk is a window of the primary key (the next `chunk` lead ids of any tenant),
    # found from the key alone; the segment's clause is applied inside it. Asking for "the
    # next `chunk` matching leads in id order" made the database filter and sort the whole
    # table again for every chunk.
    start = campaign.cursor_lead_id
    after = Lead.lead_id > start
    end = session.scalar(
        select(Lead.lead_id).where(after).order_by(Lead.lead_id).offset(chunk - 1).limit(1)
    )
    last = end is None
    if end is None:
        end = session.scalar(select(func.max(Lead.lead_id)).where(after))
        if end is None:
            return True
    in_chunk = after & (Lead.lead_id <= end)
    addresses = session.execute(
        select(LeadEmail.lead_id, LeadEmail.email, LeadEmail.consentimento)
        .join(Lead, Lead.lead_id == LeadEmail.lead_id)
        .where(
            clause,
            in_chunk,
            LeadEmail.lead_id > start,
            LeadEmail.lead_id <= end,
            segments.mailable(),
        )
        .order_by(LeadEmail.lead_id, LeadEmail.email_principal.desc(), LeadEmail.email_id)
    ).all()
    phones: dict[int, str] = {}
    for lead_id, phone in session.execute(
        select(LeadTelefone.lead_id, LeadTelefone.telefone)
        .where(LeadTelefone.lead_id > start, LeadTelefone.lead_id <= end)
        .order_by(LeadTelefone.lead_id, LeadTelefone.telefone_principal.desc())
    ):
        phones.setdefault(lead_id, phone)
    first: dict[str, tuple[int, str]] = {}
    for lead_id, email, state in addresses:
        first.setdefault(email.strip().lower(), (lead_id, state))
    # Every address goes to the insert; the ones already in the ledger (a chunk redone after
    # a crash, a second worker) are skipped by the unique key, and only the rows it really
    # inserted are counted.
    fresh = list(first)
    blocked = suppression.is_suppressed(session, tenant_id=campaign.tenant_id, addresses=fresh)
    opted = consent.opted_out(session, tenant_id=campaign.tenant_id, addresses=fresh)
    variants = [(v.id, v.weight) for v in variants_of(session, campaign.id)]
    rows = []
    due: dict[str, datetime] = {}
    for address in fresh:
        lead_id, state = first[address]
        tz, source = zones.resolve(
            lead_tz=None, uf=None, phone=phones.get(lead_id), default=campaign.default_tz
        )
        variant_id: int | None
        if campaign.winner_variant_id is not None:  # new members after the decision
            variant_id, phase = campaign.winner_variant_id, "all"
        elif campaign.ab_enabled and len(variants) > 1:
            variant_id, phase = ab.assign(
                campaign.ab_seed, address, fraction=campaign.ab_test_fraction, variants=variants
            )
        else:
            variant_id, phase = variants[0][0], "all"
        reason = None
        if address in blocked:
            reason = f"suppressed:{blocked[address]}"[:32]
        elif address in opted or state == consent.OPT_OUT:
            reason = "opted_out"
        rows.append(
            {
                "tenant_id": campaign.tenant_id,
                "campaign_id": campaign.id,
                "lead_id": lead_id,
                "address": address,
                "status": "skipped" if reason else "pending",
                "skip_reason": reason,
                "variant_id": variant_id,
                "phase": phase,
                "tz": tz,
                "tz_source": source,
                "due_at": None
                if phase == "remainder"
                else due.get(tz) or due.setdefault(tz, due_at(campaign, tz=tz, now=now)),
                "opens": 0,
                "machine_opens": 0,
                "clicks": 0,
            }
        )
    tally = Tally()
    inserted = bulk.insert_new(
        session,
        RECIPIENTS,
        rows,
        conflict=("campaign_id", "address"),
        returning=("variant_id", "status"),
    )
    for variant_id, status in inserted:
        tally.add(variant_id, "audience_total")
        if status == "skipped":
            tally.add(variant_id, "skipped")
    tally.write(session, campaign_id=campaign.id, at=now)
    session.execute(
        update(Campaign).where(Campaign.id == campaign.id).values(cursor_lead_id=end),
        execution_options={"synchronize_session": False},
    )
    session.refresh(campaign)
    return last


def reconcile(session: Session, campaign: Campaign, *, now: datetime) -> int:
    """Moves queued ledger rows whose queue message is final to sent, failed, cancelled or
    skipped, with the counters; returns how many moved."""
    rows = session.execute(
        select(R.id, R.variant_id, Email.status, Email.sent_at, Email.error_message)
        .join(Email, Email.id == R.email_id)
        .where(R.campaign_id == campaign.id, R.status == "queued", Email.status.in_(list(FINAL)))
    ).all()
    if not rows:
        return 0
    tally = Tally()
    changes = []
    for rid, variant_id, status, sent_at, error in rows:
        new = FINAL[status]
        changes.append(
            {
                "rid": rid,
                "new": new,
                "sent": sent_at if new == "sent" else None,
                "err": (error or "")[:2000] or None,
                "why": "suppressed_at_send" if new == "skipped" else None,
            }
        )
        # "sent" and "failed" feed both the counters and the hourly buckets.
        tally.add(variant_id, {"sent": "sent", "failed": "failed"}.get(new, "skipped"))
    session.execute(
        update(RECIPIENTS)
        .where(RECIPIENTS.c.id == bindparam("rid"), RECIPIENTS.c.status == "queued")
        .values(
            status=bindparam("new"),
            sent_at=bindparam("sent"),
            error=bindparam("err"),
            skip_reason=bindparam("why"),
        ),
        changes,
        execution_options={"synchronize_session": False},
    )
    tally.write(session, campaign_id=campaign.id, at=now)
    return len(rows)


def open_rows(session: Session, campaign_id: int, *, phase: str | None = None) -> int:
    """Ledger rows still pending or queued (a campaign finishes only when there are none)."""
    stmt = select(func.count()).where(
        R.campaign_id == campaign_id, R.status.in_(("pending", "queued"))
    )
    if phase is not None:
        stmt = stmt.where(R.phase == phase)
    return session.scalar(stmt) or 0


def in_flight(session: Session, campaign_id: int) -> int:
    stmt = select(func.count()).where(R.campaign_id == campaign_id, R.status == "queued")
    return session.scalar(stmt) or 0


def queued_email_ids(session: Session, campaign_id: int) -> list[int]:
    stmt = select(R.email_id).where(
        R.campaign_id == campaign_id, R.status == "queued", R.email_id.is_not(None)
    )
    return [i for i in session.scalars(stmt) if i is not None]


def cancel_pending(session: Session, campaign_id: int) -> int:
    stmt = (
        update(R)
        .where(R.campaign_id == campaign_id, R.status == "pending")
        .values(status="cancelled")
    )
    return dml(session, stmt, execution_options={"synchronize_session": False}).rowcount


def by_status(session: Session, campaign_id: int) -> dict[str, int]:
    rows = session.execute(
        select(R.status, func.count()).where(R.campaign_id == campaign_id).group_by(R.status)
    )
    out: dict[str, int] = defaultdict(int)
    for status, n in rows:
        out[status] = n
    return dict(out)
