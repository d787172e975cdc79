"""Which mail accounts a person sees: owners and admins all of them, others those granted."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carteiro.tenancy.models import AccountAccess, User
from carteiro.tenancy.roles import SEES_ALL


def visible_account_ids(
    session: Session, *, tenant_id: int, user_id: int, role: str
) -> set[int] | None:
    """None: every account of the tenant; otherwise the ids granted to this person."""
    if role in SEES_ALL:
        return None
    rows = session.scalars(
        select(AccountAccess.account_id)
        .join(User, User.id == AccountAccess.user_id)
        .where(AccountAccess.user_id == user_id, User.tenant_id == tenant_id)
    )
    return set(rows)


def granted(session: Session, *, user_id: int) -> set[int]:
    return set(
        session.scalars(select(AccountAccess.account_id).where(AccountAccess.user_id == user_id))
    )


def grant(session: Session, *, user_id: int, account_id: int) -> bool:
    """Grants one account; False when it was granted already. The caller checks both belong
    to the same tenant."""
    if session.get(AccountAccess, (user_id, account_id)) is not None:
        return False
    session.add(AccountAccess(user_id=user_id, account_id=account_id))
    session.flush()
    return True


def revoke(session: Session, *, user_id: int, account_id: int) -> bool:
    result = session.execute(
        delete(AccountAccess).where(
            AccountAccess.user_id == user_id, AccountAccess.account_id == account_id
        ),
        execution_options={"synchronize_session": False},
    )
    return bool(getattr(result, "rowcount", 0))


def set_grants(
    session: Session, *, user_id: int, account_ids: set[int]
) -> tuple[set[int], set[int]]:
    """Makes the grants exactly `account_ids`; returns (added, removed)."""
    current = granted(session, user_id=user_id)
    for account_id in sorted(account_ids - current):
        grant(session, user_id=user_id, account_id=account_id)
    for account_id in sorted(current - account_ids):
        revoke(session, user_id=user_id, account_id=account_id)
    return account_ids - current, current - account_ids
