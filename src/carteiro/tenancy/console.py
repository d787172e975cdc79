"""The principal the console acts as for a person: full rights for owners and admins only."""

from __future__ import annotations

from carteiro.tenancy import roles, scopes
from carteiro.tenancy.service import Principal

# What the console may do for a person of each role, in API scopes, so that services which
# check a principal (key creation's subset rule, import jobs) see the same limits as the API.
OPERATOR_SCOPES: tuple[str, ...] = (
    scopes.EMAILS_SEND,
    scopes.EMAILS_READ,
    scopes.EMAILS_MANAGE,
    scopes.ACCOUNTS_READ,
    scopes.LEADS_READ,
    scopes.LEADS_WRITE,
    scopes.INBOX_READ,
    scopes.INBOX_WRITE,
    scopes.DELIVERABILITY_READ,
    scopes.DELIVERABILITY_WRITE,
)
VIEWER_SCOPES: tuple[str, ...] = (
    scopes.EMAILS_READ,
    scopes.ACCOUNTS_READ,
    scopes.LEADS_READ,
    scopes.INBOX_READ,
    scopes.DELIVERABILITY_READ,
)


def scopes_for_role(role: str) -> tuple[str, ...]:
    if role in roles.SEES_ALL:
        return (scopes.EVERYTHING,)
    if roles.at_least(role, "operator"):
        return OPERATOR_SCOPES
    if roles.at_least(role, "viewer"):
        return VIEWER_SCOPES
    return ()


def principal_for_person(*, tenant_id: int, email: str, role: str) -> Principal:
    """A principal with no key behind it, named after the person for the audit trail."""
    return Principal(
        tenant_id=tenant_id,
        key_id=None,
        key_name=f"console: {email}"[:200],
        scopes=scopes_for_role(role),
    )
