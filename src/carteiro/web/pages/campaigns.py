"""Campaign pages: the list, and a live panel with progress, variants, accounts and controls."""

from __future__ import annotations

from typing import Literal

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carteiro.api.deps import Offset, PathId, Tx
from carteiro.api.router import Router
from carteiro.campaigns import service
from carteiro.campaigns.schemas import CampaignStats
from carteiro.errors import CarteiroError
from carteiro.web import acting, render
from carteiro.web.deps import Operator, Person, WebPerson
from carteiro.web.paging import PAGE_SIZE

router = Router(include_in_schema=False)

STATUSES = {
    "draft": render.N_("draft"),
    "awaiting_approval": render.N_("awaiting approval"),
    "scheduled": render.N_("scheduled"),
    "preparing": render.N_("preparing"),
    "sending": render.N_("sending"),
    "testing": render.N_("testing"),
    "awaiting_winner": render.N_("awaiting the winner"),
    "paused": render.N_("paused"),
    "finished": render.N_("finished"),
    "cancelled": render.N_("cancelled"),
}
LIVE = ("scheduled", "preparing", "sending", "testing", "awaiting_winner")
ACTIONS = {
    "pause": ("preparing", "sending", "testing", "awaiting_winner"),
    "resume": ("paused",),
    "cancel": ("draft", "awaiting_approval", "scheduled", "paused", *LIVE),
}
NOTICES = {
    "pause": render.N_("Paused: queued messages are held until you resume."),
    "resume": render.N_("Resumed."),
    "cancel": render.N_("Cancelled: unsent messages will not go out."),
}


def _progress(st: CampaignStats) -> int:
    total = st.counts.audience_total
    done = st.counts.sent + st.counts.failed + st.counts.skipped
    return min(100, round(100 * done / total)) if total else 0


def _panel(
    request: Request,
    session: Tx,
    person: WebPerson,
    campaign_id: int,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    fragment: bool = False,
) -> HTMLResponse:
    principal = acting.principal(person)
    campaign = service.public(
        session, service.get_or_raise(session, principal=principal, campaign_id=campaign_id)
    )
    st = service.stats(session, principal=principal, campaign_id=campaign_id, with_accounts=True)
    ab = service.ab_state(session, principal=principal, campaign_id=campaign_id)
    msgid = NOTICES.get(notice or "")
    ctx = {
        "section": "campaigns",
        "c": campaign,
        "st": st,
        "ab": ab,
        "progress": _progress(st),
        "live": campaign.status in LIVE,
        "statuses": STATUSES,
        "actions": [a for a, starts in ACTIONS.items() if campaign.status in starts]
        if person.at_least("operator")
        else [],
        "notice": render.text(request, msgid) if msgid else None,
        "error": error,
    }
    if fragment:
        return render.fragment(request, "campaign.html", "progress", ctx)
    return render.page(request, "campaign.html", ctx, status=status)


@router.get("/ui/campaigns")
def campaigns_list(
    request: Request, session: Tx, person: Person, offset: Offset = 0
) -> HTMLResponse:
    page = service.list_(
        session, principal=acting.principal(person), status=None, limit=PAGE_SIZE, offset=offset
    )
    return render.page(
        request,
        "campaigns.html",
        {
            "section": "campaigns",
            "page": page,
            "statuses": STATUSES,
            "offset": offset,
            "page_size": PAGE_SIZE,
        },
    )


@router.get("/ui/campaigns/{campaign_id}")
def campaign_panel(
    request: Request,
    session: Tx,
    person: Person,
    campaign_id: PathId,
    notice: str | None = None,
) -> HTMLResponse:
    return _panel(request, session, person, campaign_id, notice=notice)


@router.get("/ui/campaigns/{campaign_id}/frag/progress")
def campaign_progress(
    request: Request, session: Tx, person: Person, campaign_id: PathId
) -> HTMLResponse:
    return _panel(request, session, person, campaign_id, fragment=True)


@router.post("/ui/campaigns/{campaign_id}/{action}")
def campaign_action(
    request: Request,
    session: Tx,
    person: Operator,
    campaign_id: PathId,
    action: Literal["pause", "resume", "cancel"],
) -> Response:
    principal = acting.principal(person)
    try:
        getattr(service, action)(session, principal=principal, campaign_id=campaign_id)
    except CarteiroError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        return _panel(request, session, person, campaign_id, error=exc.message, status=exc.status)
    acting.record(
        request,
        session,
        person,
        f"campaign.{action}",
        target_type="campaign",
        target_id=campaign_id,
    )
    return RedirectResponse(f"/ui/campaigns/{campaign_id}?notice={action}", status_code=303)
