"""Claiming work: due messages in lane and priority order, within every account's budget."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    bindparam,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from carteiro.accounts import connections, limits
from carteiro.accounts.models import Account
from carteiro.accounts.vault import Vault
from carteiro.db.base import table_of
from carteiro.errors import CarteiroError
from carteiro.leads import suppression
from carteiro.outbound import claim_plan as plan_of
from carteiro.outbound.claim_plan import Candidate, Open, Plan, Worker
from carteiro.outbound.dkim.signers import Signers
from carteiro.outbound.models import LANE_TRANSACTIONAL, Email, EmailEvent
from carteiro.outbound.reroute import resign

# Core, not ORM, statements on the hot path: the ORM bulk layer cost a quarter of a
# worker's time.
EMAILS = table_of(Email)


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
    # The DKIM timestamp: the seal added at send time is the one a reader of the stored
    # message rebuilds (`service.raw_bytes`).
    created_at: datetime | None = None


@dataclass(frozen=True)
class Move:
    """Pool mail leased to another account than the one it was composed for: its From and
    signature are rewritten after the claim commits, outside the accounts' locks."""

    email_id: int
    tenant_id: int
    account_id: int
    account: str
    from_email: str
    from_name: str | None
    created_at: datetime


@dataclass
class Claim:
    """A claim's messages, and the connection slots this worker holds per account after it.
    `moved`: messages in `items` whose bytes still carry the old sender (see `finish`)."""

    items: list[Claimed]
    slots: dict[int, int]
    moved: list[Move] = field(default_factory=list)


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
) -> tuple[dict[int, Account], dict[int, Open], Worker, dict[int, int]]:
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
    worker = Worker(spare=max(0, max_slots - sum(mine.values())), depth=depth)
    out = {}
    for account in accounts:
        budget = limits.budget_of(account, used[account.id], now=now)
        if budget.remaining is not None and budget.remaining <= 0:
            continue
        paused = account.bulk_paused_until is not None and account.bulk_paused_until > now
        s = slots[account.id]
        capacity = len(s.mine) * depth - backlog.get(account.id, 0)
        out[account.id] = Open(
            id=account.id,
            tenant_id=account.tenant_id,
            email=account.email,
            weight=account.weight,
            left=budget.remaining if budget.remaining is not None else 1 << 30,
            used_day=used[account.id]["day"],
            slots=s,
            capacity=capacity,
            bulk_paused=paused,
        )
    return {a.id: a for a in accounts}, out, worker, mine


def _suppressed(session: Session, rows: Sequence[Row[Any]], now: datetime) -> set[int]:
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
        insert(table_of(EmailEvent)),
        [
            {"tenant_id": tenants[i], "email_id": i, "type": "suppressed", "created_at": now}
            for i in blocked
        ],
    )
    return set(blocked)


def _recipients(row: Row[Any]) -> list[str]:
    return [*row.to_emails, *(row.cc_emails or []), *(row.bcc_emails or [])]


# What building a message from an account's settings can raise; anything else (the database,
# the vault) is not the message's fault and still ends the claim.
_COMPOSE_ERRORS = (CarteiroError, ValueError, UnicodeError)


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, CarteiroError) else str(exc) or type(exc).__name__


def _fail_unsendable(
    session: Session, broken: list[tuple[Move, str]], *, worker_id: str, now: datetime
) -> None:
    """Marks messages the chosen account cannot send as failed, each with the reason."""
    events = []
    for move, why in broken:
        message = (
            f"account '{move.account}' cannot send this message: {why}; "
            "fix the account's email or display_name and retry the message"
        )
        session.execute(
            update(EMAILS)
            # Still this worker's: a lease lost meanwhile leaves the row to its new owner.
            .where(
                EMAILS.c.id == move.email_id,
                EMAILS.c.lease_owner == worker_id,
                EMAILS.c.status == "sending",
            )
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
        detail = {"account": move.account, "reason": why[:500]}
        events.append(
            {
                "tenant_id": move.tenant_id,
                "email_id": move.email_id,
                "type": "failed",
                "detail": detail,
                "created_at": now,
            }
        )
    session.execute(insert(table_of(EmailEvent)), events)


def claim(
    session: Session,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    depth: int = 4,
    max_slots: int = 50,
    backlog: dict[int, int] | None = None,
) -> Claim:
    """Leases up to `limit` due messages to `worker_id`, takes their accounts' budget and the
    connection slots they need: at most `depth` messages per slot, `max_slots` slots in all.
    Pool mail moved to another account comes back in `moved`, for `finish`.

    `backlog` (messages the worker holds per account) is read from the database unless the
    worker passes its own count."""
    # SQLite's claim holds the single write lock from its first statement, so what it reads
    # is exact. PostgreSQL reads without locks to choose candidates, then locks only the
    # accounts they may use and reads their counters again: concurrent claims wait for each
    # other only for that short part, and not at all for other accounts.
    postgres = session.get_bind().dialect.name == "postgresql"
    if backlog is None:
        backlog = _backlog(session, worker_id)
    accounts, open_, worker, mine = _open_accounts(
        session, now, worker_id=worker_id, depth=depth, max_slots=max_slots, backlog=backlog
    )
    usable, by_tenant = plan_of.usable(open_, worker)
    rows = _candidates(session, usable, by_tenant, worker, limit=limit, now=now, postgres=postgres)
    blocked = _suppressed(session, rows, now)
    candidates = [
        Candidate(r.id, r.tenant_id, r.account_id, r.account_pinned, r.route_from, r.lane)
        for r in rows
    ]
    needed = plan_of.needed(candidates, usable, by_tenant)
    if postgres and needed:
        accounts, open_, worker, mine = _open_accounts(
            session,
            now,
            worker_id=worker_id,
            depth=depth,
            max_slots=max_slots,
            backlog=backlog,
            lock=needed,
        )
        usable, by_tenant = plan_of.usable(open_, worker)
    plan = plan_of.assign(
        candidates, usable=usable, by_tenant=by_tenant, worker=worker, limit=limit, blocked=blocked
    )
    if not plan.count:
        return Claim([], mine)
    claimed, moved = _lease(
        session, plan, accounts, worker_id=worker_id, now=now, lease_seconds=lease_seconds
    )
    limits.take(session, taken=plan.taken, now=now)
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
    return Claim(claimed, mine, moved)


def _candidates(
    session: Session,
    usable: dict[int, Open],
    by_tenant: dict[int, list[Open]],
    worker: Worker,
    *,
    limit: int,
    now: datetime,
    postgres: bool,
) -> list[Row[*tuple[Any, ...]]]:
    """Due messages the open accounts could take, in lane, priority and time order.

    One statement per route (the capture transport's mail, each open account's pinned mail,
    each tenant's pool mail), each an exact range of a claim index in claim order, stopped
    after `fetch` rows (fewer where the accounts can take fewer): no plan of it needs a
    sort, whatever the statistics say, and mail no open account can take is never read. The
    first `fetch` of the merged routes are the first `fetch` of all they could take."""
    # Over-fetch when several accounts share the work: some candidates may find their
    # account's budget taken by earlier ones. With one account, extra rows would only be
    # locked for nothing.
    fetch = limit * 4 if len(usable) > 1 else limit
    rows: list[Row[*tuple[Any, ...]]] = []
    for route, most in _routes(usable, by_tenant, worker):
        # Twice what the route's accounts can take, so rows found suppressed or routed to no
        # matching account leave room; locking a full `fetch` on every route would hold rows
        # other workers could take.
        stmt = (
            select(*_CANDIDATE)
            .where(_PENDING, EMAILS.c.run_at <= now, *route)
            .order_by(*_CLAIM_ORDER)
            .limit(fetch if most is None else min(fetch, 2 * most))
        )
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        rows += session.execute(stmt).all()
    rows.sort(key=lambda r: (r.lane, r.priority, r.run_at, r.id))
    return rows[:fetch]


def _routes(
    usable: dict[int, Open], by_tenant: dict[int, list[Open]], worker: Worker
) -> list[tuple[list[ColumnElement[bool]], int | None]]:
    """The WHERE terms of each route, and at most how many messages its accounts can take
    (None: no bound): the capture transport's mail (pinned to no account), each open
    account's pinned mail, each tenant's pool mail; only the transactional lane where bulk is
    paused for the account (for pool mail, for all of the tenant's). The keys are spelled as
    the claim indexes spell them."""
    pinned, pool = EMAILS.c.account_pinned == true(), EMAILS.c.account_pinned == false()
    routes: list[tuple[list[ColumnElement[bool]], int | None]] = [
        ([pinned, _account_key == 0], None)
    ]
    for account_id, item in sorted(usable.items()):
        terms = [pinned, _account_key == account_id]
        if item.bulk_paused:
            terms.append(EMAILS.c.lane == LANE_TRANSACTIONAL)
        routes.append((terms, item.most(worker)))
    for tenant_id, items in sorted(by_tenant.items()):
        terms = [pool, _tenant_key == tenant_id]
        if all(o.bulk_paused for o in items):
            terms.append(EMAILS.c.lane == LANE_TRANSACTIONAL)
        routes.append((terms, sum(o.most(worker) for o in items)))
    return routes


# The claim indexes' terms, spelled as they are: a partial index serves a query only when
# the query's terms match its predicate's, and only these indexes have these expressions,
# so the planner has no other index to read and sort, however wrong its statistics are
# (a `status` term could be served by ix_emails_lease or ix_emails_tenant_status_created,
# an `account_id` one by ix_emails_account_status). Literals, not parameters: a generic plan
# must still prove the predicate.
_PENDING = func.coalesce(EMAILS.c.status, literal_column("''")) == literal_column("'pending'")
_account_key = func.coalesce(EMAILS.c.account_id, literal_column("0"))
_tenant_key = func.coalesce(EMAILS.c.tenant_id, literal_column("0"))
_CLAIM_ORDER = (EMAILS.c.lane, EMAILS.c.priority, EMAILS.c.run_at, EMAILS.c.id)
_CANDIDATE = (
    EMAILS.c.id,
    EMAILS.c.account_id,
    EMAILS.c.account_pinned,
    EMAILS.c.tenant_id,
    EMAILS.c.route_from,
    EMAILS.c.lane,
    EMAILS.c.priority,
    EMAILS.c.run_at,
    EMAILS.c.to_emails,
    EMAILS.c.cc_emails,
    EMAILS.c.bcc_emails,
)


def _lease(
    session: Session,
    plan: Plan,
    accounts: dict[int, Account],
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
) -> tuple[list[Claimed], list[Move]]:
    """One UPDATE per account: the rows become this worker's, with the account's sender."""
    claimed: list[Claimed] = []
    moved: list[Move] = []
    until = now + timedelta(seconds=lease_seconds)
    for account_id, ids in plan.chosen.items():
        values: dict[str, object] = {
            "status": "sending",
            "lease_owner": worker_id,
            "lease_until": until,
            "attempts": EMAILS.c.attempts + 1,
            "updated_at": now,
        }
        account = accounts[account_id] if account_id is not None else None
        if account is not None:
            values.update(account_id=account.id, from_email=account.email)
        stmt = update(EMAILS).where(EMAILS.c.id.in_(ids)).values(**values).returning(*_LEASED)
        for r in session.execute(stmt, execution_options={"synchronize_session": False}):
            if r.id in plan.moved and account is not None:
                moved.append(
                    Move(
                        r.id,
                        r.tenant_id,
                        account.id,
                        account.name,
                        account.email,
                        r.from_name or account.display_name,
                        r.created_at,
                    )
                )
            claimed.append(
                Claimed(
                    id=r.id,
                    tenant_id=r.tenant_id,
                    account_id=r.account_id,
                    sender=r.from_email,
                    recipients=[*r.to_emails, *(r.cc_emails or []), *(r.bcc_emails or [])],
                    raw=r.raw,
                    attempt=r.attempts,
                    retry_count=r.retry_count,
                    max_retries=r.max_retries,
                    message_id=r.message_id,
                    created_at=r.created_at,
                )
            )
    return claimed, moved


_LEASED = (
    EMAILS.c.id,
    EMAILS.c.tenant_id,
    EMAILS.c.account_id,
    EMAILS.c.from_email,
    EMAILS.c.from_name,
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


def finish(
    session: Session, claim: Claim, *, worker_id: str, vault: Vault | None, now: datetime
) -> Claim:
    """Seals the claim's messages: DKIM-signs each for its sender's domain (when the tenant
    has a key) and rewrites the From of moved pool mail first. Run after the claim
    committed, so the RSA work holds no account lock.

    Messages are stored unsigned and signed here rather than when they are queued: the
    signature is deterministic (its timestamp is the creation time), so a reader of the
    stored message rebuilds the very bytes sent (and they are written back here), and
    enqueueing a campaign does not pay an RSA operation per recipient. A message its account
    cannot compose fails alone and gives its budget back; the rest of the claim goes on."""
    if not claim.items:
        return claim
    signers = Signers(session, vault) if vault is not None else None
    raws: dict[int, bytes] = {}
    broken: list[tuple[Move, str]] = []
    by_id = {c.id: c for c in claim.items}
    for move in claim.moved:
        try:
            raws[move.email_id] = resign(
                by_id[move.email_id].raw,
                from_email=move.from_email,
                from_name=move.from_name,
                tenant_id=move.tenant_id,
                at=move.created_at,
                signers=signers,
            )
        except _COMPOSE_ERRORS as exc:
            # The account's settings cannot make this message (an old row that predates
            # the checks).
            broken.append((move, _reason(exc)))
    unsendable = {move.email_id for move, _ in broken}
    sealed: list[dict[str, object]] = []
    for item in claim.items:
        if signers is None or item.id in raws or item.id in unsendable:
            continue
        raw = signers.sign(
            item.raw, tenant_id=item.tenant_id, from_email=item.sender, at=item.created_at or now
        )
        raws[item.id] = raw
        if raw != item.raw:
            sealed.append({"eid": item.id, "raw": raw, "size": len(raw)})
    if sealed:
        # The stored message becomes the bytes sent (once, on its first claim, or again after
        # a key rotation), so `GET /emails/{id}/raw` shows them even if the key changes later.
        session.execute(
            update(EMAILS)
            .where(EMAILS.c.id == bindparam("eid"), EMAILS.c.lease_owner == worker_id)
            .values(raw=bindparam("raw"), size=bindparam("size")),
            sealed,
            execution_options={"synchronize_session": False},
        )
    if broken:
        _fail_unsendable(session, broken, worker_id=worker_id, now=now)
        given: dict[int, int] = defaultdict(int)
        for move, _ in broken:
            given[move.account_id] -= 1
        limits.take(session, taken=dict(given), now=now)
    items = [replace(c, raw=raws.get(c.id, c.raw)) for c in claim.items if c.id not in unsendable]
    return Claim(items, claim.slots)
