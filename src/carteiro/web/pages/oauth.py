"""The OAuth consent page: a person approves a hosted MCP client's grant as a new API key."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from mcp.server.auth.provider import construct_redirect_uri

from carteiro.api.deps import Rt, Tx
from carteiro.api.router import Router
from carteiro.errors import CarteiroError
from carteiro.oauth import service as oauth
from carteiro.tenancy.scopes import ALL_SCOPES, DEFAULT_KEY_SCOPES, EVERYTHING
from carteiro.web import acting, render
from carteiro.web.deps import Admin
from carteiro.web.security import CSP

router = Router(include_in_schema=False)

RequestId = Annotated[str, Query(alias="request", min_length=8, max_length=64)]


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def _page(
    request: Request,
    request_id: str,
    grant_params: dict[str, object],
    client: dict[str, object],
    *,
    values: dict[str, object],
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    redirect = str(grant_params.get("redirect_uri") or "")
    response = render.page(
        request,
        "oauth_consent.html",
        {
            "section": "integrations",
            "request_id": request_id,
            "client_name": client.get("client_name") or client.get("client_id"),
            "redirect_host": urlsplit(redirect).netloc,
            "all_scopes": (EVERYTHING, *ALL_SCOPES),
            "values": values,
            "error": error,
        },
        status=status,
    )
    # The answer goes back to the client's own address: the form may post there (redirect).
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {_origin(redirect)}"
    )
    return response


@router.get("/ui/oauth/consent")
def consent(request: Request, session: Tx, person: Admin, request_id: RequestId) -> Response:
    grant, client = oauth.pending(session, request_id=request_id)
    asked = [s for s in grant.scopes if s in ALL_SCOPES or s == EVERYTHING]
    values: dict[str, object] = {"scopes": asked or list(DEFAULT_KEY_SCOPES), "review_mode": True}
    return _page(request, request_id, dict(grant.params), client, values=values)


def _patterns(raw: str) -> list[str] | None:
    found = [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]
    return found or None


@router.post("/ui/oauth/consent")
def decide(
    request: Request,
    session: Tx,
    rt: Rt,
    person: Admin,
    request_id: Annotated[str, Form(alias="request", min_length=8, max_length=64)],
    decision: Annotated[str, Form(max_length=10)] = "deny",
    scopes: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults)
    allowed_recipients: Annotated[str, Form(max_length=20000)] = "",
    review_mode: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    if decision != "approve":
        params = oauth.deny(session, request_id=request_id)
        target = construct_redirect_uri(
            str(params["redirect_uri"]), error="access_denied", state=params.get("state")
        )
        return RedirectResponse(target, status_code=303)
    try:
        code, params = oauth.approve(
            session,
            request_id=request_id,
            creator=acting.principal(person),
            user_id=person.user_id,
            scopes=scopes,
            allowed_recipients=_patterns(allowed_recipients),
            review_mode=review_mode == "true",
            default_rate_limit=rt.settings.email_rate_limit_per_hour,
            vault=rt.vault,
        )
    except CarteiroError as exc:
        grant, client = oauth.pending(session, request_id=request_id)
        values: dict[str, object] = {
            "scopes": scopes,
            "allowed_recipients": allowed_recipients,
            "review_mode": review_mode == "true",
        }
        return _page(
            request,
            request_id,
            dict(grant.params),
            client,
            values=values,
            error=exc.message,
            status=exc.status,
        )
    acting.record(
        request,
        session,
        person,
        "oauth_grant",
        target_type="oauth_client",
        detail={"request": request_id[:8], "scopes": scopes},
    )
    target = construct_redirect_uri(
        str(params["redirect_uri"]), code=code, state=params.get("state")
    )
    return RedirectResponse(target, status_code=303)
