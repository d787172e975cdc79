"""Maps domain errors and validation failures to JSON responses with the field named."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from carteiro.errors import CarteiroError, RateLimited

log = logging.getLogger("carteiro.api")


def _loc(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or ".".join(str(p) for p in loc)


def _msg(error: Mapping[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error")
        return "the request body is not valid JSON" + (f" ({reason})" if reason else "")
    # Pydantic prefixes the text of a validator's ValueError; the field name says enough.
    return str(error.get("msg", "invalid input")).removeprefix("Value error, ")


def _field(error: Mapping[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "body"  # the location is a character offset, not a field
    return _loc(tuple(error.get("loc", ())))


def validation_body(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first = errors[0] if errors else {"loc": (), "msg": "invalid input"}
    field = _field(first)
    return {
        "error": "invalid",
        "message": f"{field}: {_msg(first)}" if field else _msg(first),
        "field": field,
        "detail": [{"field": _field(e), "message": _msg(e), "type": e.get("type")} for e in errors],
    }


def domain_response(exc: CarteiroError) -> JSONResponse:
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def validation_response(exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(validation_body(list(exc.errors())), status_code=422)


def install(app: FastAPI) -> None:
    @app.exception_handler(CarteiroError)
    async def _domain(_: Request, exc: CarteiroError) -> JSONResponse:
        return domain_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", exc.orig)
        return JSONResponse(
            {"error": "unavailable", "message": "the database does not answer; try again"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
