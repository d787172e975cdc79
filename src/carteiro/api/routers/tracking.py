"""Tracking endpoints: a tracked link answers 307 to its stored URL, the pixel a GIF (no key);
a message's counts and the tenant's anonymous mode (with a key)."""

from __future__ import annotations

import base64
import re

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.routing import Route

from carteiro.api.deps import AdminKey, EmailsReadKey, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.db.types import utcnow
from carteiro.outbound import service as outbound
from carteiro.runtime import Runtime
from carteiro.tracking import agents, network, recorder, uri
from carteiro.tracking import service as tracking
from carteiro.tracking.body import PIXEL
from carteiro.tracking.schemas import TrackingSettings, TrackingStats
from carteiro.tracking.service import HitIn, Target

router = Router(tags=["tracking"])

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Nothing on the way may cache a hit (each fetch is the signal), and the token must not leak
# to the target site through the Referer.
HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}
_INDEX = re.compile(r"[0-9]{1,6}")
NOT_FOUND = (
    '<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><meta name="robots" '
    'content="noindex"><title>Link não encontrado</title></head><body><h1>Link não encontrado'
    '</h1><p>Este link não existe ou foi copiado pela metade.</p><p lang="en">This link does '
    "not exist or was not copied in full.</p></body></html>"
)


def _hit(rt: Runtime, request: Request, target: Target, kind: str, link: int | None) -> HitIn:
    client = request.client.host if request.client else None
    return HitIn(
        target=target,
        kind=kind,
        link=link,
        at=utcnow(),
        user_agent=agents.family(request.headers.get("user-agent")),
        network=network.network_hash(rt.settings, client),
    )


def _after(rt: Runtime, hit: HitIn) -> BackgroundTask:
    """Writes the hit once the reply is sent: a slow or failing database never delays or
    breaks a redirect."""
    return BackgroundTask(recorder.for_database(rt.db).write, rt.db, hit)


async def _target(rt: Runtime, token: str) -> Target | None:
    if len(token) > tracking.MAX_TOKEN or "\x00" in token:
        return None
    try:
        return await recorder.for_database(rt.db).target(rt.db, token)
    except Exception:
        return None


async def follow(request: Request) -> Response:
    """`GET /t/{token}/{link}`: a tracked link (307 to the stored URL) or the open pixel."""
    token, link = request.path_params["token"], request.path_params["link"]
    rt: Runtime = request.app.state.runtime
    found = await _target(rt, token)
    if link == PIXEL:
        task = _after(rt, _hit(rt, request, found, "open", None)) if found else None
        return Response(GIF, media_type="image/gif", headers=HEADERS, background=task)
    index = int(link) if _INDEX.fullmatch(link) else -1
    if found is None or not 0 <= index <= found.trap:
        return HTMLResponse(NOT_FOUND, status_code=404, headers=HEADERS)
    if index == found.trap:
        # The hidden link only machines follow: answered, recorded, never redirected.
        task = _after(rt, _hit(rt, request, found, "trap", index))
        return HTMLResponse("", headers=HEADERS, background=task)
    task = _after(rt, _hit(rt, request, found, "click", index))
    return RedirectResponse(
        uri.to_uri(found.urls[index]), status_code=307, headers=HEADERS, background=task
    )


@router.get("/emails/{email_id}/tracking", summary="Opens and clicks of a tracked message by class")
def email_tracking(email_id: PathId, principal: EmailsReadKey, session: Tx) -> TrackingStats:
    email = outbound.get_or_raise(session, principal=principal, email_id=email_id)
    return tracking.stats(session, tenant_id=principal.tenant_id, email_id=email.id)


@router.get("/tracking/settings", summary="The tenant's tracking settings")
def get_settings(principal: AdminKey, session: Tx, rt: Rt) -> TrackingSettings:
    anonymous = tracking.is_anonymous(session, tenant_id=principal.tenant_id, settings=rt.settings)
    return TrackingSettings(anonymous=anonymous)


@router.put("/tracking/settings", summary="Anonymous mode on or off for messages tracked next")
def put_settings(data: TrackingSettings, principal: AdminKey, session: Tx) -> TrackingSettings:
    tracking.set_anonymous(session, tenant_id=principal.tenant_id, anonymous=data.anonymous)
    return data


# The hot path as a plain Starlette route, mounted first by the app: every hit skips the API's
# route scan and dependency solving (no key, no body, two path strings it checks itself).
HIT_ROUTE = Route("/t/{token}/{link}", follow, methods=["GET"], name="tracking_hit")
