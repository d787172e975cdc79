"""The console's page routers, mounted in this order by `api/app.py` (CSRF checked on each)."""

from __future__ import annotations

from fastapi import APIRouter

from carteiro.web.pages import auth, compose, dashboard, inbox, people

PAGES: tuple[APIRouter, ...] = (
    auth.router,
    dashboard.router,
    inbox.router,
    compose.router,
    people.router,
)
