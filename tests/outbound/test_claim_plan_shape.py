"""The claim's plan at depth: every candidate statement walks a claim index in order (no sort
of the pending set, whatever the statistics say), and mail no open account can take is not
read. Plan shape, not timing, is asserted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from carteiro.accounts.models import Account
from carteiro.db.types import utcnow
from carteiro.outbound import queue, service
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

DEPTH = 3000
# What the claim's candidate statements, and only they, contain.
CANDIDATE_MARK = "ORDER BY emails.lane, emails.priority, emails.run_at, emails.id"


def _queue(runtime: Runtime, principal: Principal, **fields: Any) -> int:
    with runtime.db.session() as session:
        data = EmailCreate(to_email="r@example.com", subject="s", body="b", **fields)
        email, _ = service.create(
            session, principal=principal, data=data, settings=runtime.settings
        )
        return email.id


def _copies(engine: Engine, template: int, count: int, status: str) -> None:
    """`count` copies of a queued row, by one INSERT … SELECT."""
    with engine.begin() as conn:
        cols = [
            row[1] if engine.dialect.name == "sqlite" else row[0]
            for row in conn.execute(
                text("PRAGMA table_info(emails)")
                if engine.dialect.name == "sqlite"
                else text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'emails' ORDER BY ordinal_position"
                )
            )
        ]
        copied = [c for c in cols if c not in ("id", "status", "message_id")]
        conn.execute(
            text(
                "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) "
                f"INSERT INTO emails ({', '.join(copied)}, status, message_id) "
                f"SELECT {', '.join('e.' + c for c in copied)}, :status, "
                "'<copy' || s.n || '@example.com>' FROM emails e, s WHERE e.id = :id"
            ),
            {"n": count, "id": template, "status": status},
        )


def _analyze(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ANALYZE emails" if engine.dialect.name == "postgresql" else "ANALYZE"))


def _forget(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DELETE FROM pg_statistic WHERE starelid = 'emails'::regclass"))
            conn.execute(
                text("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE relname = 'emails'")
            )
        else:
            conn.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))


def _deep_queue(runtime: Runtime, template: int, statistics: str) -> None:
    """DEPTH pending copies of `template`, with the statistics in the named state: none,
    stale (taken when the rows were all sent, as after a quiet period), stale_new (taken
    with as many rows sent and none pending, then the copies queued), or fresh."""
    engine = runtime.db.engine
    if statistics == "stale_new":
        _copies(engine, template, DEPTH, "sent")
        _analyze(engine)
        _copies(engine, template, DEPTH, "pending")
    elif statistics == "stale":
        _copies(engine, template, DEPTH, "sent")
        _analyze(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE emails SET status = 'pending' WHERE status = 'sent'"))
    else:
        _copies(engine, template, DEPTH, "pending")
        _analyze(engine) if statistics == "fresh" else _forget(engine)


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[tuple[str, Any]]]:
    """The claim's candidate statements as they are sent, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if CANDIDATE_MARK in statement and not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(runtime.db.engine, "before_cursor_execute", record)


def _claim(runtime: Runtime, limit: int = 50) -> list[queue.Claimed]:
    with runtime.db.session() as session:
        return queue.claim(session, worker_id="w1", limit=limit, lease_seconds=30)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _explain(engine: Engine, statement: str, parameters: Any) -> list[Any]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            prefix = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
            row = conn.exec_driver_sql(prefix + statement, parameters).scalar_one()
            conn.rollback()
            plan = row if isinstance(row, list) else json.loads(row)
            return list(_nodes(plan[0]["Plan"]))
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return [r[-1] for r in rows]


def _assert_ordered_walk(engine: Engine, statement: str, parameters: Any) -> list[Any]:
    nodes = _explain(engine, statement, parameters)
    if engine.dialect.name == "postgresql":
        types = [n["Node Type"] for n in nodes]
        assert "Sort" not in types and "Incremental Sort" not in types, types
        scans = [n for n in nodes if "Scan" in n["Node Type"]]
        assert [n["Node Type"] for n in scans] == ["Index Scan"], types
        assert scans[0]["Index Name"].startswith("ix_emails_claim_"), scans[0]
    else:
        assert not any("TEMP B-TREE" in d for d in nodes), nodes
        assert any("INDEX ix_emails_claim_" in d for d in nodes), nodes
    return nodes


@pytest.mark.parametrize("statistics", ["none", "stale", "stale_new", "fresh"])
def test_deep_claim_walks_the_claim_indexes_in_order(
    runtime: Runtime,
    principal: Principal,
    smtp_account: int,
    statements: list[tuple[str, Any]],
    statistics: str,
) -> None:
    pinned = _queue(runtime, principal, account="sink")
    pool = _queue(runtime, principal, priority="high")
    _deep_queue(runtime, pinned, statistics)
    claimed = _claim(runtime)
    # Pool mail at high priority first, then the oldest pinned copies (returned in id order).
    # (As many as the account's connection slots take.)
    with runtime.db.engine.connect() as conn:
        oldest = conn.execute(
            text("SELECT id FROM emails WHERE id > :pool AND status = 'sending' ORDER BY id"),
            {"pool": pool},
        ).scalars()
        copies = list(oldest)
    assert len(claimed) > 2 and copies[0] == pool + 1 + (DEPTH if statistics == "stale_new" else 0)
    assert [c.id for c in claimed] == [
        pinned,
        pool,
        *range(copies[0], copies[0] + len(claimed) - 2),
    ]
    # Capture mail, the account's pinned mail, the tenant's pool mail.
    assert len(statements) == 3
    for statement, parameters in statements:
        nodes = _assert_ordered_walk(runtime.db.engine, statement, parameters)
        if runtime.db.engine.dialect.name == "postgresql":
            # Stopped after the claim's rows, not the whole pending set.
            read = sum(n.get("Actual Rows", 0) for n in nodes if "Scan" in n["Node Type"])
            assert read <= 50, read


def test_claim_with_no_open_account_reads_no_queued_mail(
    runtime: Runtime,
    principal: Principal,
    smtp_account: int,
    statements: list[tuple[str, Any]],
) -> None:
    template = _queue(runtime, principal, account="sink")
    _deep_queue(runtime, template, "stale")
    with runtime.db.session() as session:
        account = session.get(Account, smtp_account)
        assert account is not None
        account.cooldown_until = utcnow() + timedelta(hours=1)
    assert _claim(runtime) == []
    # Only the capture transport's route is asked for; it holds none of the queue.
    assert len(statements) == 1
    statement, parameters = statements[0]
    assert "coalesce(emails.account_id, 0) = " in statement
    nodes = _assert_ordered_walk(runtime.db.engine, statement, parameters)
    if runtime.db.engine.dialect.name == "postgresql":
        assert sum(n.get("Actual Rows", 0) for n in nodes) == 0
        assert nodes[-1].get("Shared Hit Blocks", 0) + nodes[-1].get("Shared Read Blocks", 0) < 5
