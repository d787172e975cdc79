"""Campaign statistics from counters and hourly buckets, the recipients list and its CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.campaigns import ledger
from carteiro.campaigns.models import (
    COUNTERS,
    RECIPIENT_STATUSES,
    Campaign,
    CampaignRecipient,
    CampaignStatHour,
    CampaignVariant,
)
from carteiro.campaigns.schemas import (
    AccountProgress,
    CampaignStats,
    Counts,
    HourBucket,
    RecipientPage,
    RecipientPublic,
    VariantPublic,
)
from carteiro.errors import InvalidInput
from carteiro.outbound.models import Email

R = CampaignRecipient
MAX_PAGE = 500
CSV_FIELDS = list(RecipientPublic.model_fields)


def counts(row: Campaign | CampaignVariant) -> Counts:
    return Counts(**{c: getattr(row, c) for c in COUNTERS})


def variant_public(v: CampaignVariant) -> VariantPublic:
    return VariantPublic(
        id=v.id,
        label=v.label,
        weight=v.weight,
        subject=v.subject,
        preheader=v.preheader,
        format=v.format,
        from_name=v.from_name,
        counts=counts(v),
    )


def recipients_from_counters(c: Campaign) -> dict[str, int]:
    """The ledger by state, from the counters alone (no scan of the ledger)."""
    done = c.sent + c.failed
    return {
        "total": c.audience_total,
        "waiting": max(0, c.audience_total - c.skipped - c.queued),
        "in_queue": max(0, c.queued - done),
        "sent": c.sent,
        "failed": c.failed,
        "skipped": c.skipped,
    }


def accounts_progress(session: Session, campaign_id: int) -> list[AccountProgress]:
    """Per account: sent and still queued (a join over the campaign's queued/sent rows)."""
    rows = session.execute(
        select(Account.name, Email.status, func.count())
        .select_from(R)
        .join(Email, Email.id == R.email_id)
        .outerjoin(Account, Account.id == Email.account_id)
        .where(R.campaign_id == campaign_id, R.email_id.is_not(None))
        .group_by(Account.name, Email.status)
    ).all()
    out: dict[str, AccountProgress] = {}
    for name, status, n in rows:
        key = name or "capture"
        item = out.setdefault(key, AccountProgress(account=key, sent=0, pending=0))
        if status == "sent":
            item.sent += n
        elif status in ("pending", "sending", "held"):
            item.pending += n
    return sorted(out.values(), key=lambda a: a.account)


def stats(session: Session, campaign: Campaign, *, with_accounts: bool = False) -> CampaignStats:
    hours = session.scalars(
        select(CampaignStatHour)
        .where(CampaignStatHour.campaign_id == campaign.id)
        .order_by(CampaignStatHour.bucket, CampaignStatHour.variant_id)
    )
    return CampaignStats(
        id=campaign.id,
        status=campaign.status,
        status_reason=campaign.status_reason,
        counts=counts(campaign),
        recipients=recipients_from_counters(campaign),
        variants=[variant_public(v) for v in ledger.variants_of(session, campaign.id)],
        hourly=[
            HourBucket(
                bucket=h.bucket,
                variant_id=h.variant_id or None,
                sent=h.sent,
                failed=h.failed,
                opened=h.opened,
                clicked=h.clicked,
                bounced=h.bounced,
            )
            for h in hours
        ],
        accounts=accounts_progress(session, campaign.id) if with_accounts else [],
    )


def _filtered(campaign_id: int, status: str | None) -> list[ColumnElement[bool]]:
    if status is not None and status not in RECIPIENT_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(RECIPIENT_STATUSES)}", field="status")
    terms: list[ColumnElement[bool]] = [R.campaign_id == campaign_id]
    if status is not None:
        terms.append(R.status == status)
    return terms


def recipient_public(r: CampaignRecipient) -> RecipientPublic:
    return RecipientPublic.model_validate(r, from_attributes=True)


def recipients(
    session: Session, campaign: Campaign, *, status: str | None, limit: int, offset: int
) -> RecipientPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit is 1 to {MAX_PAGE}", field="limit")
    terms = _filtered(campaign.id, status)
    total = session.scalar(select(func.count()).where(*terms)) or 0
    rows = session.scalars(select(R).where(*terms).order_by(R.id).limit(limit).offset(offset))
    return RecipientPage(
        items=[recipient_public(r) for r in rows], total=total, limit=limit, offset=offset
    )


def export_csv(session: Session, campaign: Campaign, *, status: str | None) -> Iterator[str]:
    """The ledger as CSV lines (header first), streamed in id order."""
    terms = _filtered(campaign.id, status)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    yield buffer.getvalue()
    stmt = select(R).where(*terms).order_by(R.id).execution_options(yield_per=2000)
    for row in session.scalars(stmt):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(recipient_public(row).model_dump(mode="json"))
        yield buffer.getvalue()
