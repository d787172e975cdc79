"""Links inbox addresses to leads (`lead_emails.email`) when the leads domain is installed."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from carteiro.inbound.dbutil import chunks

log = logging.getLogger("carteiro.inbox")


def available() -> bool:
    return importlib.util.find_spec("carteiro.leads.models") is not None


def lead_ids(session: Session, *, tenant_id: int, addresses: Iterable[str]) -> dict[str, int]:
    """Lower-cased address → lead id for the addresses that belong to a lead of the tenant."""
    wanted = sorted({a.lower() for a in addresses if a})
    if not wanted or not available():
        return {}
    from carteiro.leads.models import LeadEmail

    found: dict[str, int] = {}
    try:
        # A savepoint: a database without the leads tables yet must not spoil the sync.
        with session.begin_nested():
            for part in chunks(wanted):
                stmt = (
                    select(LeadEmail.email, LeadEmail.lead_id)
                    .where(LeadEmail.tenant_id == tenant_id, LeadEmail.email.in_(part))
                    .order_by(LeadEmail.lead_id)
                )
                for email, lead_id in session.execute(stmt):
                    found.setdefault(email.lower(), lead_id)
    except DBAPIError as exc:
        log.warning("leads are not linked: %s", exc.orig)
        return {}
    return found
