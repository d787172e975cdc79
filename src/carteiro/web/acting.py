"""What console pages do on a person's behalf: the principal services check, the audit trail."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from sqlalchemy.orm import Session

from carteiro.tenancy import audit
from carteiro.tenancy.console import principal_for_person
from carteiro.tenancy.service import Principal
from carteiro.web.deps import WebPerson, client_ip


def principal(person: WebPerson) -> Principal:
    return principal_for_person(tenant_id=person.tenant_id, email=person.email, role=person.role)


def record(
    request: Request,
    session: Session,
    person: WebPerson,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | int | None = None,
    detail: Mapping[str, object] | None = None,
) -> None:
    audit.record(
        session,
        tenant_id=person.tenant_id,
        user_id=person.user_id,
        action=action,
        actor=person.email,
        ip=client_ip(request),
        target_type=target_type,
        target_id=target_id,
        detail=detail,
    )
