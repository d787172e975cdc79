"""Counters on campaigns, variants and hourly buckets: incremented, never recounted on read."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from carteiro.campaigns.models import COUNTERS, Campaign, CampaignStatHour, CampaignVariant
from carteiro.db import upsert

HOURLY = ("sent", "failed", "opened", "clicked", "bounced")


class Tally:
    """Increments gathered per variant, written in one UPDATE per variant and one for the
    campaign."""

    def __init__(self) -> None:
        self.by_variant: dict[int | None, Counter[str]] = defaultdict(Counter)

    def add(self, variant_id: int | None, counter: str, n: int = 1) -> None:
        assert counter in COUNTERS or counter in HOURLY, counter
        if n:
            self.by_variant[variant_id][counter] += n

    def write(self, session: Session, *, campaign_id: int, at: datetime) -> None:
        total: Counter[str] = Counter()
        for variant_id, counts in self.by_variant.items():
            total.update(counts)
            values = {
                c: getattr(CampaignVariant, c) + n for c, n in counts.items() if c in COUNTERS
            }
            if variant_id is not None and values:
                session.execute(
                    update(CampaignVariant)
                    .where(CampaignVariant.id == variant_id)
                    .values(**values),
                    execution_options={"synchronize_session": False},
                )
            hourly = {h: counts[h] for h in HOURLY if counts.get(h)}
            if hourly:
                bump_hour(session, campaign_id=campaign_id, variant_id=variant_id, at=at, **hourly)
        values = {c: getattr(Campaign, c) + n for c, n in total.items() if c in COUNTERS}
        if values:
            session.execute(
                update(Campaign).where(Campaign.id == campaign_id).values(**values),
                execution_options={"synchronize_session": False},
            )


def bump_hour(
    session: Session, *, campaign_id: int, variant_id: int | None, at: datetime, **counts: int
) -> None:
    bucket = at.replace(minute=0, second=0, microsecond=0)
    row = {"campaign_id": campaign_id, "variant_id": variant_id or 0, "bucket": bucket}
    row.update({h: counts.get(h, 0) for h in HOURLY})
    stmt = upsert.insert(session, CampaignStatHour).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["campaign_id", "variant_id", "bucket"],
        set_={h: getattr(CampaignStatHour, h) + counts[h] for h in counts},
    )
    session.execute(stmt)
