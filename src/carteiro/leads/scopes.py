"""Scope names for the leads endpoints and tools (registered in tenancy.scopes.ALL_SCOPES)."""

from __future__ import annotations

from carteiro.tenancy import scopes as _tenancy

# Read from tenancy.scopes once it declares them, so there is a single source of truth.
LEADS_READ: str = getattr(_tenancy, "LEADS_READ", "leads:read")
LEADS_WRITE: str = getattr(_tenancy, "LEADS_WRITE", "leads:write")
