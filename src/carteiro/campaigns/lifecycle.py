"""Campaign status transitions, each one compare-and-set UPDATE on the campaign's row."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carteiro.campaigns.models import Campaign
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.errors import Conflict

ACTIVE = ("preparing", "sending", "testing", "awaiting_winner")
TERMINAL = ("finished", "cancelled")
EDITABLE = ("draft", "awaiting_approval", "scheduled", "paused")

# verb → (statuses it starts from, status it ends in); None: decided by the campaign.
RULES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "submit": (("draft",), "awaiting_approval"),
    "approve": (("awaiting_approval",), "scheduled"),
    "schedule": (("draft",), "scheduled"),
    "unschedule": (("scheduled", "awaiting_approval"), "draft"),
    "prepare": (("scheduled",), "preparing"),
    "send": (("preparing",), "sending"),
    "test": (("preparing",), "testing"),
    "await_winner": (("testing",), "awaiting_winner"),
    "send_remainder": (("awaiting_winner",), "sending"),
    "pause": (ACTIVE, "paused"),
    "resume": (("paused",), None),
    "cancel": (("draft", "awaiting_approval", "scheduled", "paused", *ACTIVE), "cancelled"),
    "finish": (("sending",), "finished"),
    "reopen": (("finished",), "sending"),
}


def transition(
    session: Session,
    campaign: Campaign,
    verb: str,
    *,
    reason: str | None = None,
    now: datetime | None = None,
    allowed: Collection[str] | None = None,
    **values: Any,
) -> Campaign:
    """Moves the campaign if its status is still one `verb` starts from; otherwise 409 naming
    the status it has now. Safe under concurrency: two callers, one winner."""
    starts, target = RULES[verb]
    starts = tuple(allowed) if allowed is not None else starts
    now = now or utcnow()
    if verb == "pause":
        values.setdefault("paused_from", campaign.status)
    if target is None:  # resume: back where it was paused
        target = campaign.paused_from or "sending"
        values.setdefault("paused_from", None)
    stmt = (
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status.in_(starts))
        .values(
            status=target,
            status_reason=reason,
            status_changed_at=now,
            version=Campaign.version + 1,
            updated_at=now,
            **values,
        )
    )
    if verb == "pause":
        # paused_from must be the status the row had: the CAS pins it.
        stmt = stmt.where(Campaign.status == campaign.status)
    done = dml(session, stmt, execution_options={"synchronize_session": False}).rowcount
    session.refresh(campaign)
    if done != 1:
        current = session.scalar(select(Campaign.status).where(Campaign.id == campaign.id))
        raise Conflict(
            f"campaign {campaign.id} is {current}; '{verb}' needs it to be {' or '.join(starts)}",
            field="status",
        )
    return campaign
