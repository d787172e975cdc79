"""The dashboard: what the queue and the accounts are doing, and what needs attention."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from fastapi.responses import HTMLResponse

from carteiro.accounts import service as accounts
from carteiro.api.deps import Tx
from carteiro.api.router import Router
from carteiro.db.types import utcnow
from carteiro.dispatches import alarm
from carteiro.outbound import activity, queue
from carteiro.responder import service as responder
from carteiro.tenancy import access
from carteiro.web import i18n, render
from carteiro.web.deps import Person

router = Router(include_in_schema=False)


def _state(status: str, cooldown_until: datetime | None, now: datetime) -> str:
    if status == "active" and cooldown_until is not None and cooldown_until > now:
        return "cooling down"
    return status


@router.get("/ui/")
def dashboard(request: Request, session: Tx, person: Person) -> HTMLResponse:
    visible = access.visible_account_ids(
        session, tenant_id=person.tenant_id, user_id=person.user_id, role=person.role
    )
    found = accounts.list_visible(session, tenant_id=person.tenant_id, account_ids=visible)
    now = utcnow()
    rows = [
        (account, public, _state(account.status, account.cooldown_until, now))
        for account, public in zip(found, accounts.public_with_usage(session, found), strict=True)
    ]
    recent = activity.hourly(session, tenant_id=person.tenant_id, account_ids=visible)
    stats = queue.stats(session, tenant_id=person.tenant_id, account_ids=visible)
    replies = responder.stats(session, tenant_id=person.tenant_id)
    locale = render.locale_of(request)
    labels = [
        i18n.hour_label(h.start, locale=locale, timezone=person.timezone) for h in recent.hours
    ]
    chart = {
        "labels": labels,
        "datasets": [
            {"label": render.text(request, "Sent"), "data": [h.sent for h in recent.hours]},
            {"label": render.text(request, "Failed"), "data": [h.failed for h in recent.hours]},
            {"label": render.text(request, "Bounced"), "data": [h.bounced for h in recent.hours]},
        ],
    }
    return render.page(
        request,
        "dashboard.html",
        {
            "section": "dashboard",
            "accounts": rows,
            "activity": recent,
            "hour_rows": list(zip(labels, recent.hours, strict=True)),
            "chart": chart,
            "stats": stats,
            "replies": replies,
            "reply_counts": {s.status: s.count for s in replies.statuses},
            "restricted": visible is not None,
            "dispatch_alarms": alarm.alarming(session, tenant_id=person.tenant_id, now=now),
            "dispatch_threshold": alarm.THRESHOLD,
        },
    )


@router.get("/ui/dashboard/pane/queue")
def queue_pane(request: Request, session: Tx, person: Person) -> HTMLResponse:
    """The queue's numbers alone, which the dashboard polls."""
    visible = access.visible_account_ids(
        session, tenant_id=person.tenant_id, user_id=person.user_id, role=person.role
    )
    stats = queue.stats(session, tenant_id=person.tenant_id, account_ids=visible)
    return render.fragment(request, "dashboard.html", "queue", {"stats": stats})
