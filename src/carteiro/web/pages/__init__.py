"""The console's page routers, mounted in this order by `api/app.py` (CSRF checked on each)."""

from __future__ import annotations

from fastapi import APIRouter

from carteiro.web.pages import (
    accounts,
    auth,
    compose,
    dashboard,
    dispatches,
    imports,
    inbox,
    keys,
    leads,
    outbox,
    people,
    suppressions,
    webhooks,
)

PAGES: tuple[APIRouter, ...] = (
    auth.router,
    dashboard.router,
    inbox.router,
    compose.router,
    people.router,
    outbox.router,
    accounts.router,
    # Before leads: /ui/leads/import is not a lead's id.
    imports.router,
    leads.router,
    suppressions.router,
    dispatches.router,
    webhooks.router,
    keys.router,
)
