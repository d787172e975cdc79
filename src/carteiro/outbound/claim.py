"""Claiming work: due messages in lane and priority order, within every account's budget."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, and_, false, func, insert, or_, select, true, update
from sqlalchemy.orm import Session

from carteiro.accounts import connections, limits
from carteiro.accounts.models import Account
from carteiro.accounts.vault import Vault
from carteiro.errors import CarteiroError
from carteiro.leads import suppression
from carteiro.mail.addresses import domain_of
from carteiro.mail.compose import set_from
from carteiro.mail.dkim import strip_signatures
from carteiro.outbound.dkim.signers import Signers
from carteiro.outbound.models import LANE_BULK, LANE_TRANSACTIONAL, Email, EmailEvent

# Core, not ORM, statements on the hot path: the ORM bulk layer cost a quarter of a
# worker's time.
EMAILS = Email.__table__


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
class Claim:
    """A claim's messages, and the connection slots this worker holds per account after it."""

    items: list[Claimed]
    slots: dict[int, int]


@dataclass
class _Worker:
    """How many more connection slots this worker may take in this claim, and how many
    messages it queues per slot."""

    spare: int
    depth: int


@dataclass
class _Open:
    """An account that may take more mail in this claim."""

    account: Account
    left: int
    used_day: int
    slots: connections.Slots
    # Messages this worker may still take: its slots x depth, less what it already holds.
    capacity: int
    bulk_paused: bool = False
    wanted: int = 0

    def takes(self, lane: int, worker: _Worker) -> bool:
        if self.left <= 0 or (lane == LANE_BULK and self.bulk_paused):
            return False
        return self.capacity > 0 or (self.slots.free > self.wanted and worker.spare > 0)

    def take(self, worker: _Worker) -> None:
        if self.capacity <= 0:
            # One more connection for this account, and `depth` more messages queued for it.
            self.wanted += 1
            worker.spare -= 1
            self.capacity += worker.depth
        self.capacity -= 1
        self.left -= 1
        self.used_day += 1

    def matches(self, route: str | None) -> bool:
        if not route:
            return True
        email = self.account.email.lower()
        return route.lower() == email if "@" in route[1:] else domain_of(email) == route[1:].lower()


def _backlog(session: Session, worker_id: str) -> dict[int, int]:
    """Messages this worker holds (claimed, not yet acked) per account."""
    rows = session.execute(
        select(EMAILS.c.account_id, func.count())
        .where(EMAILS.c.status == "sending", EMAILS.c.lease_owner == worker_id)
        .group_by(EMAILS.c.account_id)
    )
    return {a: n for a, n in rows if a is not None}


def _open_accounts(
    session: Session,
    now: datetime,
    *,
    worker_id: str,
    depth: int,
    max_slots: int,
    backlog: dict[int, int],
    lock: list[int] | None = None,
) -> tuple[dict[int, _Open], _Worker, dict[int, int]]:
    """Active accounts out of cool-down with budget left, this worker's spare slots and the
    slots it holds on every account. With `lock`, only those accounts, locked (in id order)
    so concurrent claims take their counters and connection slots one after another."""
    stmt = (
        select(Account)
        .where(
            Account.status == "active",
            or_(Account.cooldown_until.is_(None), Account.cooldown_until <= now),
        )
        .order_by(Account.id)
    )
    if lock is not None:
        stmt = (
            stmt.where(Account.id.in_(lock))
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    accounts = list(session.scalars(stmt))
    ids = [a.id for a in accounts]
    used = limits.usage(session, account_ids=ids, now=now)
    slots, mine = connections.held(
        session, limits={a.id: a.max_connections for a in accounts}, worker_id=worker_id, now=now
    )
    worker = _Worker(spare=max(0, max_slots - sum(mine.values())), depth=depth)
    out = {}
    for account in accounts:
        budget = limits.budget_of(account, used[account.id], now=now)
        if budget.remaining is not None and budget.remaining <= 0:
            continue
        paused = account.bulk_paused_until is not None and account.bulk_paused_until > now
        s = slots[account.id]
        capacity = len(s.mine) * depth - backlog.get(account.id, 0)
        out[account.id] = _Open(
            account,
            budget.remaining if budget.remaining is not None else 1 << 30,
            used[account.id]["day"],
            s,
            capacity,
            paused,
        )
    return out, worker, mine


def _usable(
    accounts: dict[int, _Open], worker: _Worker
) -> tuple[dict[int, _Open], dict[int, list[_Open]]]:
    """Accounts that can take mail now, and the same grouped by tenant for pool mail."""
    usable = {a: o for a, o in accounts.items() if o.takes(LANE_TRANSACTIONAL, worker)}
    by_tenant: dict[int, list[_Open]] = defaultdict(list)
    for item in usable.values():
        by_tenant[item.account.tenant_id].append(item)
    return usable, dict(by_tenant)


def _needed(
    rows: list[Row], usable: dict[int, _Open], by_tenant: dict[int, list[_Open]]
) -> list[int]:
    """The accounts these candidates could go to: their own, or their tenant's pool."""
    needed: set[int] = set()
    for row in rows:
        if row.account_pinned:
            if row.account_id in usable:
                needed.add(row.account_id)
        else:
            needed.update(o.account.id for o in by_tenant.get(row.tenant_id, []))
    return sorted(needed)


def _pick(candidates: list[_Open], route: str | None, lane: int, worker: _Worker) -> _Open | None:
    """Weighted round-robin as least-served-per-weight: over a day the shares follow weights."""
    best: _Open | None = None
    for cand in candidates:
        if not cand.takes(lane, worker) or not cand.matches(route):
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
            update(EMAILS)
            .where(EMAILS.c.id == email_id)
            .values(
                status="suppressed", error_message=why, error_type="suppressed", updated_at=now
            ),
            execution_options={"synchronize_session": False},
        )
    tenants = {row.id: row.tenant_id for row in rows}
    session.execute(
        insert(EmailEvent.__table__),
        [
            {"tenant_id": tenants[i], "email_id": i, "type": "suppressed", "created_at": now}
            for i in blocked
        ],
    )
    return set(blocked)


def _recipients(row: Row) -> list[str]:
    return [*row.to_emails, *(row.cc_emails or []), *(row.bcc_emails or [])]


def _reroute(
    raw: bytes, account: Account, signers: Signers | None, *, tenant_id: int, at: datetime
) -> bytes:
    """Another account than the provisional one: new From, so a new signature."""
    raw = set_from(raw, from_addr=account.email, from_name=account.display_name)
    if signers is None:
        return strip_signatures(raw)
    return signers.sign(raw, tenant_id=tenant_id, from_email=account.email, at=at)


# What building a message from an account's settings can raise; anything else (the database,
# the vault) is not the message's fault and still ends the claim.
_COMPOSE_ERRORS = (CarteiroError, ValueError, UnicodeError)


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, CarteiroError) else str(exc) or type(exc).__name__


def _fail_unsendable(
    session: Session, broken: list[tuple[int, int, Account, str]], now: datetime
) -> None:
    """Marks messages the chosen account cannot send as failed, each with the reason."""
    events = []
    for email_id, tenant_id, account, why in broken:
        message = (
            f"account '{account.name}' cannot send this message: {why}; "
            "fix the account's email or display_name and retry the message"
        )
        session.execute(
            update(EMAILS)
            .where(EMAILS.c.id == email_id)
            .values(
                status="failed",
                lease_owner=None,
                lease_until=None,
                error_type="invalid_account",
                error_message=message[:2000],
                updated_at=now,
            ),
            execution_options={"synchronize_session": False},
        )
        detail = {"account": account.name, "reason": why[:500]}
        events.append(
            {
                "tenant_id": tenant_id,
                "email_id": email_id,
                "type": "failed",
                "detail": detail,
                "created_at": now,
            }
        )
    session.execute(insert(EmailEvent.__table__), events)


def claim(
    session: Session,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    vault: Vault | None = None,
    depth: int = 4,
    max_slots: int = 50,
    backlog: dict[int, int] | None = None,
) -> Claim:
    """Leases up to `limit` due messages to `worker_id`, takes their accounts' budget and the
    connection slots they need: at most `depth` messages per slot, `max_slots` slots in all.

    `backlog` (messages the worker holds per account) is read from the database unless the
    worker passes its own count."""
    # SQLite's claim holds the single write lock from its first statement, so what it reads
    # is exact. PostgreSQL reads without locks to choose candidates, then locks only the
    # accounts they may use and reads their counters again: concurrent claims wait for each
    # other only for that short part, and not at all for other accounts.
    postgres = session.get_bind().dialect.name == "postgresql"
    if backlog is None:
        backlog = _backlog(session, worker_id)
    accounts, worker, mine = _open_accounts(
        session, now, worker_id=worker_id, depth=depth, max_slots=max_slots, backlog=backlog
    )
    usable, by_tenant = _usable(accounts, worker)
    eligible = or_(
        and_(EMAILS.c.account_pinned.is_(true()), EMAILS.c.account_id.is_(None)),
        and_(EMAILS.c.account_pinned.is_(true()), EMAILS.c.account_id.in_(list(usable))),
        and_(EMAILS.c.account_pinned.is_(false()), EMAILS.c.tenant_id.in_(list(by_tenant))),
    )
    # Over-fetch when several accounts share the work: some candidates may find their
    # account's budget taken by earlier ones. With one account, extra rows would only be
    # locked for nothing.
    fetch = limit * 4 if len(usable) > 1 else limit
    candidates = (
        select(
            EMAILS.c.id,
            EMAILS.c.account_id,
            EMAILS.c.account_pinned,
            EMAILS.c.tenant_id,
            EMAILS.c.route_from,
            EMAILS.c.lane,
            EMAILS.c.to_emails,
            EMAILS.c.cc_emails,
            EMAILS.c.bcc_emails,
        )
        .where(EMAILS.c.status == "pending", EMAILS.c.run_at <= now, eligible)
        .order_by(EMAILS.c.lane, EMAILS.c.priority, EMAILS.c.run_at, EMAILS.c.id)
        .limit(fetch)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)

    rows = session.execute(candidates).all()
    blocked = _suppressed(session, rows, now)
    needed = _needed(rows, usable, by_tenant)
    if postgres and needed:
        accounts, worker, mine = _open_accounts(
            session,
            now,
            worker_id=worker_id,
            depth=depth,
            max_slots=max_slots,
            backlog=backlog,
            lock=needed,
        )
        usable, by_tenant = _usable(accounts, worker)

    chosen: dict[int | None, list[int]] = defaultdict(list)
    rerouted: set[int] = set()
    taken: dict[int, int] = defaultdict(int)
    count = 0
    for row in rows:
        if count >= limit:
            break
        if row.id in blocked:
            continue
        if row.account_pinned:
            if row.account_id is not None:
                slot = usable.get(row.account_id)
                if slot is None or not slot.takes(row.lane, worker):
                    continue
                slot.take(worker)
                taken[row.account_id] += 1
            chosen[row.account_id].append(row.id)
        else:
            slot = _pick(by_tenant.get(row.tenant_id, []), row.route_from, row.lane, worker)
            if slot is None:
                continue
            slot.take(worker)
            taken[slot.account.id] += 1
            chosen[slot.account.id].append(row.id)
            if slot.account.id != row.account_id:
                rerouted.add(row.id)
        count += 1
    if not count:
        return Claim([], mine)

    claimed: list[Claimed] = []
    until = now + timedelta(seconds=lease_seconds)
    signers = Signers(session, vault) if vault is not None and rerouted else None
    broken: list[tuple[int, int, Account, str]] = []
    for account_id, ids in chosen.items():
        values: dict[str, object] = {
            "status": "sending",
            "lease_owner": worker_id,
            "lease_until": until,
            "attempts": EMAILS.c.attempts + 1,
            "updated_at": now,
        }
        account = accounts[account_id].account if account_id is not None else None
        if account is not None:
            values.update(account_id=account.id, from_email=account.email)
        stmt = (
            update(EMAILS)
            .where(EMAILS.c.id.in_(ids))
            .values(**values)
            .returning(
                EMAILS.c.id,
                EMAILS.c.tenant_id,
                EMAILS.c.account_id,
                EMAILS.c.from_email,
                EMAILS.c.to_emails,
                EMAILS.c.cc_emails,
                EMAILS.c.bcc_emails,
                EMAILS.c.raw,
                EMAILS.c.attempts,
                EMAILS.c.retry_count,
                EMAILS.c.max_retries,
                EMAILS.c.message_id,
                EMAILS.c.created_at,
            )
        )
        for r in session.execute(stmt, execution_options={"synchronize_session": False}):
            raw = r.raw
            if r.id in rerouted and account is not None:
                try:
                    raw = _reroute(raw, account, signers, tenant_id=r.tenant_id, at=r.created_at)
                except _COMPOSE_ERRORS as exc:
                    # The account's settings cannot make this message (an old row that
                    # predates the checks): it fails alone, the rest of the batch goes on.
                    broken.append((r.id, r.tenant_id, account, _reason(exc)))
                    taken[account.id] -= 1
                    continue
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
    if broken:
        _fail_unsendable(session, broken, now)
        taken = defaultdict(int, {a: n for a, n in taken.items() if n > 0})
    limits.take(session, taken=taken, now=now)
    connections.grant(
        session,
        worker_id=worker_id,
        wanted={a: o.wanted for a, o in usable.items()},
        slots={a: o.slots for a, o in usable.items()},
        now=now,
        lease_seconds=lease_seconds,
    )
    for account_id, item in usable.items():
        if item.slots.mine:
            mine[account_id] = len(item.slots.mine)
    claimed.sort(key=lambda c: c.id)
    return Claim(claimed, mine)
