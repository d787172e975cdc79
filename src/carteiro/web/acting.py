"""A logged-in person as the principal the domain services expect (scopes from their role)."""

from __future__ import annotations

from carteiro.tenancy import roles
from carteiro.tenancy.service import Principal
from carteiro.web.deps import WebPerson


def principal_of(person: WebPerson) -> Principal:
    """No key: the services record the person's name and e-mail as who acted."""
    return Principal(
        tenant_id=person.tenant_id,
        key_id=None,
        key_name=f"{person.name} <{person.email}>",
        scopes=roles.scopes_of(person.role),
    )
