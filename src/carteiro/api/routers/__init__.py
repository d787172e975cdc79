"""One router module per domain, listed here so the import map shows what the app mounts."""

from __future__ import annotations

from fastapi import APIRouter

from carteiro.api.routers import (
    accounts,
    deliverability,
    emails,
    inbox,
    keys,
    leads,
    ops,
    queue,
    tracking,
    unsubscribe,
    webhooks,
)

# Name order, as they were mounted when a scan found them: on overlapping paths the first wins.
ROUTERS: tuple[APIRouter, ...] = (
    accounts.router,
    deliverability.router,
    emails.router,
    inbox.router,
    keys.router,
    leads.router,
    ops.router,
    queue.router,
    tracking.router,
    unsubscribe.router,
    webhooks.router,
)
