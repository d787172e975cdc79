"""People: the users admin, the audit log, and a person's own sessions."""

from __future__ import annotations

from carteiro.api.router import Router

router = Router(include_in_schema=False)
