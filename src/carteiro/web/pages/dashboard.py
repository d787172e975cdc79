"""The dashboard: what the queue and the accounts are doing, and what needs attention."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from carteiro.api.router import Router
from carteiro.web import render
from carteiro.web.deps import Person

router = Router(include_in_schema=False)


@router.get("/ui/")
def dashboard(request: Request, person: Person) -> HTMLResponse:
    return render.page(request, "dashboard.html", {"section": "dashboard"})
