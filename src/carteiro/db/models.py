"""Imports every model so that `Base.metadata` knows all tables (Alembic, tests)."""

from carteiro.accounts.models import Account
from carteiro.db.base import Base
from carteiro.outbound.models import Email, EmailAttachment, EmailAttempt, EmailEvent
from carteiro.tenancy.models import ApiKey, Tenant

__all__ = [
    "Account",
    "ApiKey",
    "Base",
    "Email",
    "EmailAttachment",
    "EmailAttempt",
    "EmailEvent",
    "Tenant",
]
