"""Notes for people in the console: a callback to make, a reminder of one."""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from carteiro.appointments.models import Agendamento, Notificacao
from carteiro.db.results import dml

MAX_PAGE = 200


def notify(session: Session, ag: Agendamento, *, tipo: str, mensagem: str) -> Notificacao:
    """For the appointment's owner; without one, for anyone of the tenant who handles them."""
    note = Notificacao(
        tenant_id=ag.tenant_id,
        user_id=ag.owner_user_id,
        agendamento_id=ag.agendamento_id,
        tipo=tipo,
        mensagem=mensagem,
    )
    session.add(note)
    return note


def _mine(tenant_id: int, user_id: int | None) -> list[object]:
    where: list[object] = [Notificacao.tenant_id == tenant_id]
    if user_id is not None:
        where.append(or_(Notificacao.user_id == user_id, Notificacao.user_id.is_(None)))
    return where


def list_(
    session: Session,
    *,
    tenant_id: int,
    user_id: int | None = None,
    unread_only: bool = False,
    limit: int = 50,
) -> list[Notificacao]:
    """Newest first: the person's own and the unowned ones (all of them when no person)."""
    stmt = select(Notificacao).where(*_mine(tenant_id, user_id))  # type: ignore[arg-type]
    if unread_only:
        stmt = stmt.where(Notificacao.lida.is_(False))
    return list(session.scalars(stmt.order_by(Notificacao.id.desc()).limit(min(limit, MAX_PAGE))))


def unread(session: Session, *, tenant_id: int, user_id: int | None = None) -> int:
    stmt = select(func.count()).where(
        *_mine(tenant_id, user_id),  # type: ignore[arg-type]
        Notificacao.lida.is_(False),
    )
    return int(session.scalar(stmt) or 0)


def mark_read(session: Session, *, tenant_id: int, ids: list[int]) -> int:
    stmt = (
        update(Notificacao)
        .where(Notificacao.tenant_id == tenant_id, Notificacao.id.in_(ids))
        .values(lida=True)
    )
    return int(dml(session, stmt).rowcount or 0)
