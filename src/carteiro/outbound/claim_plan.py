"""The claim's plan: which due messages go to which accounts and connection slots, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence, Set
from dataclasses import dataclass, field

from carteiro.accounts.connections import Slots
from carteiro.mail.addresses import domain_of
from carteiro.outbound.models import LANE_BULK, LANE_TRANSACTIONAL


@dataclass(frozen=True)
class Candidate:
    """A due message as the plan sees it."""

    id: int
    tenant_id: int
    account_id: int | None
    account_pinned: bool
    route_from: str | None = None
    lane: int = LANE_TRANSACTIONAL


@dataclass
class Worker:
    """How many more connection slots this worker may take in this claim, and how many
    messages it queues per slot."""

    spare: int
    depth: int


@dataclass
class Open:
    """An account that may take more mail in this claim."""

    id: int
    tenant_id: int
    email: str
    weight: int
    left: int
    used_day: int
    slots: Slots
    # Messages this worker may still take: its slots x depth, less what it already holds.
    capacity: int
    bulk_paused: bool = False
    wanted: int = 0

    def takes(self, lane: int, worker: Worker) -> bool:
        if self.left <= 0 or (lane == LANE_BULK and self.bulk_paused):
            return False
        return self.capacity > 0 or (self.slots.free > self.wanted and worker.spare > 0)

    def most(self, worker: Worker) -> int:
        """At most how many messages this account can take in this claim: its budget, and
        what its slots (held, and those it may still open) queue."""
        opening = max(0, min(self.slots.free - self.wanted, worker.spare))
        return max(0, min(self.left, max(self.capacity, 0) + opening * worker.depth))

    def take(self, worker: Worker) -> None:
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
        email = self.email.lower()
        return route.lower() == email if "@" in route[1:] else domain_of(email) == route[1:].lower()


@dataclass
class Plan:
    """Message ids per account (None: pinned to no account), those moved to another account
    than the one they were queued for, and the budget taken per account."""

    chosen: dict[int | None, list[int]] = field(default_factory=dict)
    moved: set[int] = field(default_factory=set)
    taken: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.chosen.values())


def usable(
    accounts: dict[int, Open], worker: Worker
) -> tuple[dict[int, Open], dict[int, list[Open]]]:
    """Accounts that can take mail now, and the same grouped by tenant for pool mail."""
    found = {a: o for a, o in accounts.items() if o.takes(LANE_TRANSACTIONAL, worker)}
    by_tenant: dict[int, list[Open]] = defaultdict(list)
    for item in found.values():
        by_tenant[item.tenant_id].append(item)
    return found, dict(by_tenant)


def needed(
    rows: Sequence[Candidate], usable: dict[int, Open], by_tenant: dict[int, list[Open]]
) -> list[int]:
    """The accounts these candidates could go to: their own, or their tenant's pool."""
    out: set[int] = set()
    for row in rows:
        if row.account_pinned:
            if row.account_id in usable:
                out.add(row.account_id)
        else:
            out.update(o.id for o in by_tenant.get(row.tenant_id, []))
    return sorted(out)


def pick(candidates: list[Open], route: str | None, lane: int, worker: Worker) -> Open | None:
    """Weighted round-robin as least-served-per-weight: over a day the shares follow weights."""
    best: Open | None = None
    for cand in candidates:
        if not cand.takes(lane, worker) or not cand.matches(route):
            continue
        load = (cand.used_day + 1) / cand.weight
        if best is None or load < (best.used_day + 1) / best.weight:
            best = cand
    return best


def assign(
    rows: Sequence[Candidate],
    *,
    usable: dict[int, Open],
    by_tenant: dict[int, list[Open]],
    worker: Worker,
    limit: int,
    blocked: Set[int] = frozenset(),
) -> Plan:
    """Takes candidates in order until `limit`: pinned mail to its account, pool mail to the
    tenant's least-served matching account; ones no account can take now are left."""
    plan = Plan()
    chosen: dict[int | None, list[int]] = defaultdict(list)
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
            slot = pick(by_tenant.get(row.tenant_id, []), row.route_from, row.lane, worker)
            if slot is None:
                continue
            slot.take(worker)
            taken[slot.id] += 1
            chosen[slot.id].append(row.id)
            if slot.id != row.account_id:
                plan.moved.add(row.id)
        count += 1
    plan.chosen, plan.taken = dict(chosen), dict(taken)
    return plan
