"""The A/B decision: recorded once per campaign, the remainder given the winner with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from carteiro.campaigns import ab, ledger, lifecycle
from carteiro.campaigns.models import AbDecision, Campaign, CampaignRecipient, CampaignVariant
from carteiro.db import upsert

R = CampaignRecipient


def decide(
    session: Session,
    campaign: Campaign,
    *,
    now: datetime,
    manual_variant_id: int | None = None,
    decided_by: str | None = None,
) -> AbDecision | None:
    """Records THE decision (one row per campaign: a second decider inserts nothing and
    stops) and, in the same transaction, gives the remainder the winner and sends it."""
    variants = ledger.variants_of(session, campaign.id)
    metric = {
        "clicks": "clicked_unique",
        "human_opens": "opened_human_unique",
        "replies": "replied",
    }
    counter = metric.get(campaign.ab_metric, "clicked_unique")
    arms = [ab.Arm(v.id, v.label, v.sent, getattr(v, counter)) for v in variants]
    if manual_variant_id is not None:
        verdict = ab.Verdict(manual_variant_id, decided_by or "manual", None, "decided by hand")
    else:
        verdict = ab.decide(
            arms,
            min_per_variant=campaign.ab_min_per_variant,
            confidence=campaign.ab_confidence,
            fallback=campaign.ab_fallback,
        )
    if verdict.variant_id is None:
        return None
    stmt = upsert.insert(session, AbDecision).values(
        campaign_id=campaign.id,
        variant_id=verdict.variant_id,
        metric=campaign.ab_metric,
        decided_by=verdict.decided_by,
        probability=verdict.probability,
        per_variant=[
            {
                "variant_id": a.variant_id,
                "label": a.label,
                "delivered": a.delivered,
                "events": a.events,
                "rate": a.rate,
            }
            for a in arms
        ],
        reason=verdict.reason,
        decided_at=now,
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["campaign_id"])
    if session.scalar(stmt.returning(AbDecision.id)) is None:
        return None  # another decider recorded it first
    session.execute(
        update(R)
        .where(R.campaign_id == campaign.id, R.phase == "remainder", R.status == "pending")
        .values(variant_id=verdict.variant_id, due_at=now),
        execution_options={"synchronize_session": False},
    )
    # The remainder's size moves to the winner's audience.
    remainder = (
        session.scalar(
            select(func.count()).where(R.campaign_id == campaign.id, R.phase == "remainder")
        )
        or 0
    )
    session.execute(
        update(CampaignVariant)
        .where(CampaignVariant.id == verdict.variant_id)
        .values(audience_total=CampaignVariant.audience_total + remainder),
        execution_options={"synchronize_session": False},
    )
    lifecycle.transition(
        session,
        campaign,
        "send_remainder",
        allowed=("awaiting_winner", "testing", "paused"),
        reason=verdict.reason,
        winner_variant_id=verdict.variant_id,
    )
    return session.scalars(select(AbDecision).where(AbDecision.campaign_id == campaign.id)).one()
