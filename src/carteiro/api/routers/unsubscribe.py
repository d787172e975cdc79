"""RFC 8058 one-click unsubscribe: POST /u/{token} opts out; GET shows a confirmation page."""

from __future__ import annotations

import html
from typing import Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from carteiro.api.deps import Rt, Tx
from carteiro.api.router import Router
from carteiro.errors import CarteiroError
from carteiro.leads import unsubscribe

router = Router(tags=["unsubscribe"])

Lang = Literal["pt", "en"]
TEXT: dict[str, dict[str, str]] = {
    "pt": {
        "title": "Cancelar inscrição",
        "ask": "Deseja deixar de receber nossos e-mails em {address}?",
        "button": "Cancelar inscrição",
        "done_title": "Inscrição cancelada",
        "done": "Pronto: {address} não receberá mais e-mails deste remetente.",
        "already": "{address} já estava fora da nossa lista; nada mais é necessário.",
        "invalid_title": "Link inválido",
        "invalid": "Este link de cancelamento não é válido. Verifique se foi copiado por inteiro.",
        "expired_title": "Link expirado",
        "expired": "Este link expirou. Use o link de um e-mail mais recente.",
    },
    "en": {
        "title": "Unsubscribe",
        "ask": "Stop receiving our e-mails at {address}?",
        "button": "Unsubscribe",
        "done_title": "Unsubscribed",
        "done": "Done: {address} will receive no more e-mails from this sender.",
        "already": "{address} was already unsubscribed; nothing else is needed.",
        "invalid_title": "Invalid link",
        "invalid": "This unsubscribe link is not valid. Check that it was copied in full.",
        "expired_title": "Expired link",
        "expired": "This link has expired. Use the link in a more recent e-mail.",
    },
}
# Link scanners and prefetchers must not index or cache these pages; the token stays private.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def pick_language(accept_language: str | None, lang: str | None) -> Lang:
    """`?lang=` first, then the best of Accept-Language among pt and en; Portuguese otherwise."""
    if lang == "pt":
        return "pt"
    if lang == "en":
        return "en"
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        code, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, code.strip().lower()))
    for _, _, code in sorted(ranked):
        if code.startswith("pt"):
            return "pt"
        if code.startswith("en"):
            return "en"
    return "pt"


def mask(address: str) -> str:
    """f***@empresa.com.br: enough for the person to recognise, little for anyone else."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def page(lang: Lang, title: str, message: str, *, button: str | None = None) -> str:
    form = ""
    if button:
        # Same URL, form-encoded body as RFC 8058 senders use.
        form = (
            '<form method="post"><input type="hidden" name="List-Unsubscribe" '
            f'value="One-Click"><button type="submit">{html.escape(button)}</button></form>'
        )
    return (
        f'<!doctype html><html lang="{"pt-BR" if lang == "pt" else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title><style>'
        "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;"
        "color:#222}button{font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;"
        "background:#1d4ed8;color:#fff;cursor:pointer}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{form}</body></html>"
    )


def _error_page(lang: Lang, exc: CarteiroError) -> HTMLResponse:
    key = "expired" if isinstance(exc, unsubscribe.ExpiredToken) else "invalid"
    text = TEXT[lang]
    return HTMLResponse(
        page(lang, text[f"{key}_title"], text[key]), status_code=exc.status, headers=PAGE_HEADERS
    )


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    summary="Confirmation page (Portuguese, or English by Accept-Language / ?lang=en)",
)
def confirm_page(
    token: str,
    request: Request,
    rt: Rt,
    session: Tx,
    lang: str | None = Query(None, max_length=10, description="pt or en"),
) -> HTMLResponse:
    language = pick_language(request.headers.get("accept-language"), lang)
    text = TEXT[language]
    try:
        parsed = unsubscribe.verify(rt.settings, token)
    except (unsubscribe.InvalidToken, unsubscribe.ExpiredToken) as exc:
        return _error_page(language, exc)
    address = mask(parsed.address)
    if unsubscribe.is_unsubscribed(session, parsed):
        body = page(language, text["done_title"], text["already"].format(address=address))
    else:
        body = page(
            language, text["title"], text["ask"].format(address=address), button=text["button"]
        )
    return HTMLResponse(body, headers=PAGE_HEADERS)


@router.post(
    "/u/{token}",
    summary="RFC 8058 one-click unsubscribe (no API key: the signed token is the credential)",
    responses={400: {"description": "forged or damaged token"}, 410: {"description": "expired"}},
)
def one_click(
    token: str,
    request: Request,
    rt: Rt,
    session: Tx,
    lang: str | None = Query(None, max_length=10, description="pt or en"),
) -> Response:
    language = pick_language(request.headers.get("accept-language"), lang)
    try:
        parsed = unsubscribe.verify(rt.settings, token)
    except (unsubscribe.InvalidToken, unsubscribe.ExpiredToken) as exc:
        if _wants_html(request):
            return _error_page(language, exc)
        raise
    try:
        created = unsubscribe.unsubscribe(session, token=parsed, bus=rt.bus)[1]
    except unsubscribe.InvalidToken as exc:
        if _wants_html(request):
            # Answered with a page, not raised: undo whatever the attempt wrote ourselves.
            session.rollback()
            return _error_page(language, exc)
        raise
    address = mask(parsed.address)
    if _wants_html(request):
        text = TEXT[language]
        message = text["done" if created else "already"].format(address=address)
        return HTMLResponse(page(language, text["done_title"], message), headers=PAGE_HEADERS)
    return JSONResponse(
        {"status": "unsubscribed", "address": address, "already": not created},
        headers=PAGE_HEADERS,
    )
