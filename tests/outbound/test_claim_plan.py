"""The claim's plan on plain data: which candidates go to which accounts and slots."""

from __future__ import annotations

import pytest

from carteiro.accounts.connections import Slots
from carteiro.outbound.claim_plan import (
    Candidate,
    Open,
    Plan,
    Worker,
    assign,
    needed,
    pick,
    usable,
)
from carteiro.outbound.models import LANE_BULK, LANE_TRANSACTIONAL


def account(
    id: int,
    *,
    tenant: int = 1,
    email: str | None = None,
    weight: int = 1,
    left: int = 100,
    used_day: int = 0,
    limit: int = 2,
    mine: int = 0,
    capacity: int = 0,
    bulk_paused: bool = False,
) -> Open:
    held = set(range(mine))
    return Open(
        id=id,
        tenant_id=tenant,
        email=email or f"a{id}@t{tenant}.example",
        weight=weight,
        left=left,
        used_day=used_day,
        slots=Slots(limit, taken=set(held), mine=held),
        capacity=capacity,
        bulk_paused=bulk_paused,
    )


def pinned(id: int, account_id: int | None, *, lane: int = LANE_TRANSACTIONAL) -> Candidate:
    return Candidate(id, 1, account_id, True, None, lane)


def pool(
    id: int, *, tenant: int = 1, queued_for: int | None = None, route: str | None = None
) -> Candidate:
    return Candidate(id, tenant, queued_for, False, route)


def plan_of(
    rows: list[Candidate],
    accounts: list[Open],
    *,
    limit: int = 50,
    spare: int = 50,
    depth: int = 4,
    blocked: set[int] | None = None,
) -> tuple[Plan, dict[int, Open], Worker]:
    worker = Worker(spare=spare, depth=depth)
    found, by_tenant = usable({a.id: a for a in accounts}, worker)
    plan = assign(
        rows,
        usable=found,
        by_tenant=by_tenant,
        worker=worker,
        limit=limit,
        blocked=blocked or set(),
    )
    return plan, found, worker


@pytest.mark.parametrize(
    ("left", "capacity", "free", "spare", "lane", "bulk_paused", "takes"),
    [
        (10, 1, 0, 0, LANE_TRANSACTIONAL, False, True),  # room on a held slot
        (10, 0, 1, 1, LANE_TRANSACTIONAL, False, True),  # a new slot is free
        (10, 0, 1, 0, LANE_TRANSACTIONAL, False, False),  # free slot, but the worker is full
        (10, 0, 0, 5, LANE_TRANSACTIONAL, False, False),  # every slot taken elsewhere
        (0, 5, 1, 1, LANE_TRANSACTIONAL, False, False),  # no budget left
        (10, 5, 1, 1, LANE_BULK, True, False),  # bulk paused: no bulk
        (10, 5, 1, 1, LANE_TRANSACTIONAL, True, True),  # ... transactional still goes
    ],
)
def test_takes(
    left: int, capacity: int, free: int, spare: int, lane: int, bulk_paused: bool, takes: bool
) -> None:
    a = account(1, left=left, limit=free, capacity=capacity, bulk_paused=bulk_paused)
    assert a.takes(lane, Worker(spare=spare, depth=4)) is takes


def test_take_opens_a_slot_only_when_the_held_ones_are_full() -> None:
    a, worker = account(1, capacity=1), Worker(spare=3, depth=4)
    a.take(worker)
    assert (a.wanted, a.capacity, worker.spare, a.left, a.used_day) == (0, 0, 3, 99, 1)
    a.take(worker)
    assert (a.wanted, a.capacity, worker.spare, a.left, a.used_day) == (1, 3, 2, 98, 2)


@pytest.mark.parametrize(
    ("route", "email", "matches"),
    [
        (None, "vendas@acme.com", True),
        ("vendas@acme.com", "Vendas@Acme.com", True),
        ("outro@acme.com", "vendas@acme.com", False),
        ("@acme.com", "vendas@ACME.com", True),
        ("@acme.org", "vendas@acme.com", False),
    ],
)
def test_route_matching(route: str | None, email: str, matches: bool) -> None:
    assert account(1, email=email).matches(route) is matches


@pytest.mark.parametrize(
    ("used", "weights", "chosen"),
    [
        ((0, 0), (1, 1), 1),  # a tie goes to the first
        ((5, 0), (1, 1), 2),  # the least served
        ((3, 5), (1, 3), 2),  # per weight: 4/1 against 6/3
        ((1, 9), (1, 3), 1),  # 2/1 against 10/3
    ],
)
def test_pick_least_served_per_weight(
    used: tuple[int, int], weights: tuple[int, int], chosen: int
) -> None:
    accounts = [
        account(i + 1, used_day=u, weight=w, capacity=4)
        for i, (u, w) in enumerate(zip(used, weights, strict=True))
    ]
    found = pick(accounts, None, LANE_TRANSACTIONAL, Worker(spare=0, depth=4))
    assert found is not None and found.id == chosen


def test_pick_honours_the_route_and_the_lane() -> None:
    accounts = [
        account(1, email="a@one.example", capacity=4, bulk_paused=True),
        account(2, email="b@two.example", capacity=4, used_day=10),
    ]
    worker = Worker(spare=0, depth=4)
    for route, lane in (("@two.example", LANE_TRANSACTIONAL), (None, LANE_BULK)):
        found = pick(accounts, route, lane, worker)
        assert found is not None and found.id == 2
    assert pick(accounts, "@three.example", LANE_TRANSACTIONAL, worker) is None


def test_needed_are_own_accounts_and_the_tenant_pool() -> None:
    accounts = [account(1), account(2), account(3, tenant=2), account(4, tenant=3)]
    found, by_tenant = usable({a.id: a for a in accounts}, Worker(spare=5, depth=4))
    rows = [pinned(10, 1), pinned(11, 9), pinned(12, None), pool(13, tenant=2)]
    assert needed(rows, found, by_tenant) == [1, 3]


@pytest.mark.parametrize(
    ("rows", "accounts", "limit", "chosen", "moved", "taken"),
    [
        # Pinned mail goes to its account; with no account at all it is still leased.
        ([pinned(1, 1), pinned(2, None)], [account(1)], 50, {1: [1], None: [2]}, set(), {1: 1}),
        # A pinned account that cannot take mail leaves its messages for later.
        (
            [pinned(1, 1), pinned(2, 2)],
            [account(1, left=0), account(2)],
            50,
            {2: [2]},
            set(),
            {2: 1},
        ),
        # Pool mail spreads by load; moved = another account than the one it was queued for.
        (
            [pool(1, queued_for=1), pool(2, queued_for=1), pool(3, queued_for=1)],
            [account(1), account(2)],
            50,
            {1: [1, 3], 2: [2]},
            {2},
            {1: 2, 2: 1},
        ),
        # Budgets end a run: account 1 has one message left today.
        ([pool(1), pool(2), pool(3)], [account(1, left=1)], 50, {1: [1]}, {1}, {1: 1}),
        # The limit counts messages, in candidate order.
        ([pinned(1, 1), pinned(2, 1), pinned(3, 1)], [account(1)], 2, {1: [1, 2]}, set(), {1: 2}),
        # Another tenant's pool is not this one's.
        ([pool(1, tenant=2)], [account(1)], 50, {}, set(), {}),
    ],
)
def test_assign(
    rows: list[Candidate],
    accounts: list[Open],
    limit: int,
    chosen: dict[int | None, list[int]],
    moved: set[int],
    taken: dict[int, int],
) -> None:
    plan, _, _ = plan_of(rows, accounts, limit=limit)
    assert (plan.chosen, plan.moved, plan.taken) == (chosen, moved, taken)
    assert plan.count == sum(len(ids) for ids in chosen.values())


def test_assign_skips_blocked_candidates_without_counting_them() -> None:
    plan, _, _ = plan_of(
        [pinned(1, 1), pinned(2, 1), pinned(3, 1)], [account(1)], limit=2, blocked={1}
    )
    assert plan.chosen == {1: [2, 3]}


def test_assign_asks_for_slots_by_depth_within_the_worker_spare() -> None:
    # Depth 2: five messages need three slots; the account has two free, the worker one spare.
    rows = [pinned(i, 1) for i in range(5)]
    plan, found, worker = plan_of(rows, [account(1, limit=2)], depth=2, spare=1)
    assert plan.chosen == {1: [0, 1]} and found[1].wanted == 1 and worker.spare == 0
    plan, found, worker = plan_of(rows, [account(1, limit=2)], depth=2, spare=5)
    assert plan.chosen == {1: [0, 1, 2, 3]} and found[1].wanted == 2 and worker.spare == 3


def test_assign_keeps_bulk_off_a_bulk_paused_account() -> None:
    rows = [pinned(1, 1, lane=LANE_BULK), pinned(2, 1)]
    plan, _, _ = plan_of(rows, [account(1, bulk_paused=True)])
    assert plan.chosen == {1: [2]}


@pytest.mark.parametrize(
    ("fields", "depth", "spare", "expected"),
    [
        ({"limit": 2}, 2, 5, 4),  # two slots to open, two messages each
        ({"limit": 2}, 2, 1, 2),  # the worker may open one more slot only
        ({"limit": 2, "left": 3}, 4, 5, 3),  # the budget is the bound
        ({"limit": 2, "mine": 2, "capacity": 3}, 4, 5, 3),  # held slots' room, none to open
        ({"limit": 3, "mine": 1, "capacity": -2}, 4, 5, 8),  # behind on one, two to open
    ],
)
def test_most_bounds_what_assign_takes(
    fields: dict[str, int], depth: int, spare: int, expected: int
) -> None:
    # The claim reads at most about this many of an account's queued messages.
    most = account(1, **fields).most(Worker(spare=spare, depth=depth))
    assert most == expected
    rows = [pinned(i, 1) for i in range(50)]
    plan, _, _ = plan_of(rows, [account(1, **fields)], depth=depth, spare=spare, limit=50)
    assert plan.count <= most
    if fields.get("capacity", 0) >= 0:
        assert plan.count == most
