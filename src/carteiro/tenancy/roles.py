"""People's roles, strongest first: owner > admin > operator > viewer."""

from __future__ import annotations

from typing import Literal

from carteiro.errors import InvalidInput
from carteiro.tenancy import scopes

Role = Literal["owner", "admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = ("owner", "admin", "operator", "viewer")
# Owners and admins see every mail account; the others only those granted to them.
SEES_ALL: frozenset[str] = frozenset({"owner", "admin"})


def rank(role: str) -> int:
    """Higher is stronger; an unknown role ranks below every real one."""
    return len(ROLES) - ROLES.index(role) if role in ROLES else 0


def at_least(role: str, minimum: str) -> bool:
    return rank(role) >= rank(minimum)


def parse(value: str) -> Role:
    for role in ROLES:
        if value == role:
            return role
    raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")


# What each role may do through the services the API keys use (the console acts with these).
SCOPES: dict[str, tuple[str, ...]] = {
    "owner": (scopes.EVERYTHING,),
    "admin": (scopes.EVERYTHING,),
    "operator": (
        scopes.EMAILS_SEND,
        scopes.EMAILS_READ,
        scopes.EMAILS_MANAGE,
        scopes.ACCOUNTS_READ,
        scopes.LEADS_READ,
        scopes.LEADS_WRITE,
        scopes.INBOX_READ,
        scopes.INBOX_WRITE,
        scopes.DELIVERABILITY_READ,
    ),
    "viewer": (
        scopes.EMAILS_READ,
        scopes.ACCOUNTS_READ,
        scopes.LEADS_READ,
        scopes.INBOX_READ,
        scopes.DELIVERABILITY_READ,
    ),
}


def scopes_of(role: str) -> tuple[str, ...]:
    """The scopes of `role`; an unknown role has none."""
    return SCOPES.get(role, ())
