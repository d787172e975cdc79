"""The audit log: who did what and when, filterable by person, action and date."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from carteiro.tenancy.models import AuditEntry

# Actions other domains and interfaces record; any short name is accepted.
ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "setup",
    "mailbox_open",
    "message_read",
    "send",
    "approve",
    "reject",
    "delete",
    "export",
    "user_create",
    "user_update",
    "session_revoke",
    "access_grant",
    "access_revoke",
)


def record(
    session: Session,
    *,
    tenant_id: int,
    user_id: int | None,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    detail: Mapping[str, object] | None = None,
    actor: str | None = None,
    ip: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        tenant_id=tenant_id,
        user_id=user_id,
        actor=(actor or "")[:320] or None,
        action=action[:64],
        target_type=target_type[:64] if target_type else None,
        target_id=str(target_id)[:128] if target_id is not None else None,
        detail=dict(detail) if detail else None,
        ip=(ip or "")[:64] or None,
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    user_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(tenant_id: int, f: AuditFilter) -> list[ColumnElement[bool]]:
    where = [AuditEntry.tenant_id == tenant_id]
    if f.user_id is not None:
        where.append(AuditEntry.user_id == f.user_id)
    if f.action:
        where.append(AuditEntry.action == f.action)
    if f.since is not None:
        where.append(AuditEntry.created_at >= f.since)
    if f.until is not None:
        where.append(AuditEntry.created_at < f.until)
    return where


def list_(
    session: Session, *, tenant_id: int, filter: AuditFilter, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """A page of entries, newest first, and how many match."""
    where = _where(tenant_id, filter)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
    rows = session.scalars(
        select(AuditEntry)
        .where(*where)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def actions_seen(session: Session, *, tenant_id: int) -> list[str]:
    """Every action recorded for the tenant plus the known ones, for a filter menu."""
    seen = set(
        session.scalars(
            select(AuditEntry.action).where(AuditEntry.tenant_id == tenant_id).distinct()
        )
    )
    return sorted(seen | set(ACTIONS))
