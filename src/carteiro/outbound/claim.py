"""Claiming work: due messages in lane and priority order, within every account's budget."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, and_, false, insert, or_, select, true, update
from sqlalchemy.orm import Session

from carteiro.accounts import limits
from carteiro.accounts.models import Account
from carteiro.accounts.vault import Vault
from carteiro.deliverability import suppression
from carteiro.outbound.addresses import domain_of
from carteiro.outbound.compose import set_from
from carteiro.outbound.dkim import Signers, strip_signatures
from carteiro.outbound.models import LANE_BULK, Email, EmailEvent


@dataclass(frozen=True)
class Claimed:
    """What a worker needs to deliver one message, read in the claim transaction."""

    id: int
    tenant_id: int
    account_id: int | None
    sender: str
    recipients: list[str]
    raw: bytes
    attempt: int
    retry_count: int
    max_retries: int
    message_id: str


@dataclass
class _Open:
    """An account that may take more mail in this claim."""

    account: Account
    left: int
    used_day: int
    bulk_paused: bool = False

    def takes(self, lane: int) -> bool:
        return self.left > 0 and not (lane == LANE_BULK and self.bulk_paused)

    def matches(self, route: str | None) -> bool:
        if not route:
            return True
        email = self.account.email.lower()
        return route.lower() == email if "@" in route[1:] else domain_of(email) == route[1:].lower()


def _open_accounts(session: Session, now: datetime) -> dict[int, _Open]:
    """Active accounts out of cool-down with budget left; locked on PostgreSQL so concurrent
    claims take their counters one after another."""
    stmt = (
        select(Account)
        .where(
            Account.status == "active",
            or_(Account.cooldown_until.is_(None), Account.cooldown_until <= now),
        )
        .order_by(Account.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    accounts = list(session.scalars(stmt))
    ids = [a.id for a in accounts]
    used = limits.usage(session, account_ids=ids, now=now)
    flying = limits.in_flight(session, account_ids=ids, now=now)
    out = {}
    for account in accounts:
        budget = limits.budget_of(account, used[account.id], flying.get(account.id, 0), now=now)
        if budget.remaining > 0:
            paused = account.bulk_paused_until is not None and account.bulk_paused_until > now
            out[account.id] = _Open(account, budget.remaining, used[account.id]["day"], paused)
    return out


def _pick(candidates: list[_Open], route: str | None, lane: int) -> _Open | None:
    """Weighted round-robin as least-served-per-weight: over a day the shares follow weights."""
    best: _Open | None = None
    for cand in candidates:
        if not cand.takes(lane) or not cand.matches(route):
            continue
        load = (cand.used_day + 1) / cand.account.weight
        if best is None or load < (best.used_day + 1) / best.account.weight:
            best = cand
    return best


def _suppressed(session: Session, rows: list[Row], now: datetime) -> set[int]:
    """Candidates with a recipient suppressed since they were queued: marked, never sent."""
    by_tenant: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        by_tenant[row.tenant_id].update(_recipients(row))
    hits: dict[int, dict[str, str]] = {
        tenant: found
        for tenant, addresses in by_tenant.items()
        if (
            found := suppression.is_suppressed(
                session, tenant_id=tenant, addresses=sorted(addresses)
            )
        )
    }
    if not hits:
        return set()
    blocked: dict[int, str] = {}
    for row in rows:
        listed = [
            f"{a} ({hits[row.tenant_id][a]})"
            for a in _recipients(row)
            if a in hits.get(row.tenant_id, {})
        ]
        if listed:
            blocked[row.id] = "on the suppression list: " + ", ".join(listed)
    for email_id, why in blocked.items():
        session.execute(
            update(Email)
            .where(Email.id == email_id)
            .values(
                status="suppressed", error_message=why, error_type="suppressed", updated_at=now
            ),
            execution_options={"synchronize_session": False},
        )
    tenants = {row.id: row.tenant_id for row in rows}
    session.execute(
        insert(EmailEvent),
        [
            {"tenant_id": tenants[i], "email_id": i, "type": "suppressed", "created_at": now}
            for i in blocked
        ],
    )
    return set(blocked)


def _recipients(row: Row) -> list[str]:
    return [*row.to_emails, *(row.cc_emails or []), *(row.bcc_emails or [])]


def claim(
    session: Session,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    vault: Vault | None = None,
) -> list[Claimed]:
    """Leases up to `limit` due messages to `worker_id` and takes their accounts' budget."""
    accounts = _open_accounts(session, now)
    by_tenant: dict[int, list[_Open]] = defaultdict(list)
    for item in accounts.values():
        by_tenant[item.account.tenant_id].append(item)
    eligible = or_(
        and_(Email.account_pinned.is_(true()), Email.account_id.is_(None)),
        and_(Email.account_pinned.is_(true()), Email.account_id.in_(list(accounts))),
        and_(Email.account_pinned.is_(false()), Email.tenant_id.in_(list(by_tenant))),
    )
    # Over-fetch: some candidates may find their account's budget taken by earlier ones.
    candidates = (
        select(
            Email.id,
            Email.account_id,
            Email.account_pinned,
            Email.tenant_id,
            Email.route_from,
            Email.lane,
            Email.to_emails,
            Email.cc_emails,
            Email.bcc_emails,
        )
        .where(Email.status == "pending", Email.run_at <= now, eligible)
        .order_by(Email.lane, Email.priority, Email.run_at, Email.id)
        .limit(limit * 4)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)

    chosen: dict[int | None, list[int]] = defaultdict(list)
    rerouted: set[int] = set()
    taken: dict[int, int] = defaultdict(int)
    count = 0
    rows = session.execute(candidates).all()
    blocked = _suppressed(session, rows, now)
    for row in rows:
        if count >= limit:
            break
        if row.id in blocked:
            continue
        if row.account_pinned:
            if row.account_id is not None:
                slot = accounts.get(row.account_id)
                if slot is None or not slot.takes(row.lane):
                    continue
                slot.left -= 1
                slot.used_day += 1
                taken[row.account_id] += 1
            chosen[row.account_id].append(row.id)
        else:
            slot = _pick(by_tenant.get(row.tenant_id, []), row.route_from, row.lane)
            if slot is None:
                continue
            slot.left -= 1
            slot.used_day += 1
            taken[slot.account.id] += 1
            chosen[slot.account.id].append(row.id)
            if slot.account.id != row.account_id:
                rerouted.add(row.id)
        count += 1
    if not count:
        return []

    claimed: list[Claimed] = []
    until = now + timedelta(seconds=lease_seconds)
    signers = Signers(session, vault) if vault is not None and rerouted else None
    for account_id, ids in chosen.items():
        values: dict[str, object] = {
            "status": "sending",
            "lease_owner": worker_id,
            "lease_until": until,
            "attempts": Email.attempts + 1,
            "updated_at": now,
        }
        account = accounts[account_id].account if account_id is not None else None
        if account is not None:
            values.update(account_id=account.id, from_email=account.email)
        stmt = (
            update(Email)
            .where(Email.id.in_(ids))
            .values(**values)
            .returning(
                Email.id,
                Email.tenant_id,
                Email.account_id,
                Email.from_email,
                Email.to_emails,
                Email.cc_emails,
                Email.bcc_emails,
                Email.raw,
                Email.attempts,
                Email.retry_count,
                Email.max_retries,
                Email.message_id,
                Email.created_at,
            )
        )
        for r in session.execute(stmt, execution_options={"synchronize_session": False}):
            raw = r.raw
            if r.id in rerouted and account is not None:
                # Another account than the provisional one: new From, so a new signature.
                raw = set_from(raw, from_addr=account.email, from_name=account.display_name)
                if signers is None:
                    raw = strip_signatures(raw)
                else:
                    raw = signers.sign(
                        raw, tenant_id=r.tenant_id, from_email=account.email, at=r.created_at
                    )
            claimed.append(
                Claimed(
                    id=r.id,
                    tenant_id=r.tenant_id,
                    account_id=r.account_id,
                    sender=r.from_email,
                    recipients=[*r.to_emails, *(r.cc_emails or []), *(r.bcc_emails or [])],
                    raw=raw,
                    attempt=r.attempts,
                    retry_count=r.retry_count,
                    max_retries=r.max_retries,
                    message_id=r.message_id,
                )
            )
    limits.take(session, taken=taken, now=now)
    claimed.sort(key=lambda c: c.id)
    return claimed
