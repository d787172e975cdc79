"""One router module per domain, listed here so the import map shows what the app mounts."""

from __future__ import annotations

from fastapi import APIRouter

from carteiro.api.routers import (
    accounts,
    appointments,
    campaigns,
    deliverability,
    dispatches,
    emails,
    inbox,
    keys,
    leads,
    ops,
    queue,
    responder,
    tracking,
    unsubscribe,
    webhooks,
    whatsapp,
)

# Name order, as they were mounted when a scan found them: on overlapping paths the first wins.
ROUTERS: tuple[APIRouter, ...] = (
    accounts.router,
    appointments.router,
    campaigns.router,
    deliverability.router,
    dispatches.router,
    emails.router,
    inbox.router,
    keys.router,
    leads.router,
    ops.router,
    queue.router,
    responder.router,
    tracking.router,
    unsubscribe.router,
    webhooks.router,
    whatsapp.router,
)
