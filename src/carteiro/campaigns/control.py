"""Pause, resume and cancel with their effects on the queue, and the campaign webhooks."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carteiro.campaigns import ledger, lifecycle
from carteiro.campaigns.models import Campaign
from carteiro.events import outbox
from carteiro.outbound import bulk


def notify(session: Session, campaign: Campaign, type: str, **extra: Any) -> None:
    payload = {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "status_reason": campaign.status_reason,
        **extra,
    }
    outbox.emit(session, tenant_id=campaign.tenant_id, type=type, payload=payload)


def pause(session: Session, campaign: Campaign, *, reason: str) -> Campaign:
    """Paused, and its queued messages not yet sending are held in the queue."""
    lifecycle.transition(session, campaign, "pause", reason=reason)
    bulk.hold(session, ids=ledger.queued_email_ids(session, campaign.id), reason=reason)
    notify(session, campaign, "campaign_paused")
    return campaign


def resume(session: Session, campaign: Campaign, *, reason: str | None = None) -> Campaign:
    lifecycle.transition(session, campaign, "resume", reason=reason)
    bulk.release(
        session, ids=ledger.queued_email_ids(session, campaign.id), reason="campaign resumed"
    )
    return campaign


def cancel(session: Session, campaign: Campaign, *, reason: str) -> Campaign:
    """Cancelled: its unsent queue messages are cancelled, its pending ledger rows too (the
    queued ones follow their message on the next reconcile)."""
    lifecycle.transition(session, campaign, "cancel", reason=reason)
    bulk.cancel(session, ids=ledger.queued_email_ids(session, campaign.id), reason=reason)
    ledger.cancel_pending(session, campaign.id)
    return campaign
