"""One router module per domain, listed here so the import map shows what the app mounts."""

from __future__ import annotations

from fastapi import APIRouter

from carteiro.api.routers import (
    accounts,
    deliverability,
    dispatches,
    emails,
    inbox,
    keys,
    leads,
    ops,
    queue,
    unsubscribe,
    webhooks,
    whatsapp,
)

# Name order, as they were mounted when a scan found them: on overlapping paths the first wins.
ROUTERS: tuple[APIRouter, ...] = (
    accounts.router,
    deliverability.router,
    dispatches.router,
    emails.router,
    inbox.router,
    keys.router,
    leads.router,
    ops.router,
    queue.router,
    unsubscribe.router,
    webhooks.router,
    whatsapp.router,
)
