"""Scope names of the deliverability endpoints and tools (kept here until tenancy lists them)."""

from __future__ import annotations

from carteiro.tenancy import scopes as _scopes

DELIVERABILITY_READ: str = getattr(_scopes, "DELIVERABILITY_READ", "deliverability:read")
DELIVERABILITY_WRITE: str = getattr(_scopes, "DELIVERABILITY_WRITE", "deliverability:write")
WEBHOOKS_WRITE: str = getattr(_scopes, "WEBHOOKS_WRITE", "webhooks:write")
