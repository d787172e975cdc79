"""The console's page routers, mounted in this order by `api/app.py` (CSRF checked on each)."""

from __future__ import annotations

from fastapi import APIRouter

from carteiro.web.pages import (
    accounts,
    appointments,
    auth,
    campaign_builder,
    campaigns,
    compose,
    dashboard,
    dispatches,
    imports,
    inbox,
    keys,
    lead_history,
    leads,
    oauth,
    outbox,
    people,
    suppressions,
    webhooks,
    whatsapp,
    whatsapp_templates,
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
    lead_history.router,
    appointments.router,
    suppressions.router,
    campaign_builder.router,
    campaigns.router,
    dispatches.router,
    whatsapp.router,
    whatsapp_templates.router,
    webhooks.router,
    keys.router,
    oauth.router,
)
