"""People's roles, strongest first: owner > admin > operator > viewer."""

from __future__ import annotations

from typing import Literal

from carteiro.errors import InvalidInput

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
