"""Errors on console URLs are pages (or, for fragments, a redirect htmx follows), not JSON."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from carteiro.api import errors as api_errors
from carteiro.errors import CarteiroError
from carteiro.web import domain_texts, render
from carteiro.web.deps import LoginRequired, login_url
from carteiro.web.render import N_
from carteiro.web.security import CsrfRefused, is_console

TITLES = {
    400: N_("The request is not valid"),
    401: N_("Log in to continue"),
    403: N_("You cannot do this"),
    404: N_("Page not found"),
    405: N_("This action is not available here"),
    409: N_("This conflicts with the current state"),
    413: N_("This is too large"),
    422: N_("Please check the form"),
    423: N_("Account locked"),
    429: N_("Too many attempts"),
}


def _referer_path(request: Request) -> str | None:
    referer = request.headers.get("referer", "")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    return referer[len(origin) :] or "/ui/" if referer.startswith(origin) else None


def error_page(
    request: Request, *, status: int, message: str, field: str | None = None
) -> Response:
    title = render.text(request, TITLES.get(status, "Something went wrong"))
    return render.page(
        request,
        "error.html",
        {"status": status, "title": title, "message": message, "field": field},
        status=status,
    )


def _login_required(request: Request, exc: LoginRequired) -> Response:
    if exc.fragment:
        # htmx does not swap a 401; it follows HX-Redirect to the login page.
        target = login_url(_referer_path(request))
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(login_url(exc.next_url), status_code=303)


def install(app: FastAPI) -> None:
    """Replaces the JSON handlers with ones that answer console URLs with pages."""

    @app.exception_handler(CarteiroError)
    async def _domain(request: Request, exc: CarteiroError) -> Response:
        if not is_console(request.url.path):
            return api_errors.domain_response(exc)
        if isinstance(exc, LoginRequired):
            return _login_required(request, exc)
        message = domain_texts.message_of(request, exc)
        if exc.status == 403 and exc.field == "role":
            message = render.text(
                request,
                "Your role does not open this page. Ask an administrator if you need it.",
            )
        elif isinstance(exc, CsrfRefused):
            message = render.text(
                request,
                "The form's security token is missing or out of date. "
                "Reload the page and try again.",
            )
        return error_page(request, status=exc.status, message=message, field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_console(request.url.path):
            return api_errors.validation_response(exc)
        body = api_errors.validation_body(list(exc.errors()))
        return error_page(request, status=422, message=str(body["message"]), field=body["field"])

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if not is_console(request.url.path):
            return await http_exception_handler(request, exc)
        text = render.text(request, TITLES.get(exc.status_code, "Something went wrong"))
        return error_page(request, status=exc.status_code, message=text)
