"""A batch's WhatsApp status records written in one statement, and which of them were news."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from carteiro.db import upsert
from carteiro.db.base import table_of
from carteiro.dispatches.models import Disparo, DisparoEvent
from carteiro.whatsapp.events import StatusEvent

Pair = tuple[int, str]  # (disparo_id, dedupe key)

# PostgreSQL: the rows as one array per column. The same rows as a multi-row VALUES made a
# statement of ~100 bytes a row, which psycopg parses anew each time (it caches only short
# ones): a third of the processing's CPU.
_UNNEST = text(
    "INSERT INTO disparo_events (tenant_id, disparo_id, kind, detail, dedupe_key, created_at) "
    "SELECT * FROM unnest(CAST(:tenant_id AS BIGINT[]), CAST(:disparo_id AS BIGINT[]), "
    "CAST(:kind AS TEXT[]), CAST(:detail AS JSONB[]), CAST(:dedupe_key AS TEXT[]), "
    "CAST(:created_at AS TIMESTAMPTZ[])) "
    "ON CONFLICT (disparo_id, dedupe_key) DO NOTHING RETURNING disparo_id, dedupe_key"
)


def key(ev: StatusEvent) -> str:
    return f"{ev.message_id}:{ev.status}:{ev.error_code or ''}"


def detail(ev: StatusEvent) -> dict[str, Any]:
    return {"status": ev.status, "message_id": ev.message_id, "code": ev.error_code}


@dataclass
class Fresh:
    """`attempted`: the (dispatch, dedupe key) pairs written; `recorded`: those that were new
    (an attempted pair not recorded is a redelivery)."""

    attempted: set[Pair] = field(default_factory=set)
    recorded: set[Pair] = field(default_factory=set)

    def first_time(self, pair: Pair) -> bool | None:
        """True once for a new pair (a status repeated in the batch applies once), False for
        a redelivery, None for a pair this batch did not write."""
        if pair in self.recorded:
            self.recorded.discard(pair)
            return True
        return False if pair in self.attempted else None


def record_all(
    session: Session, statuses: Iterable[tuple[Disparo, StatusEvent]], *, now: datetime
) -> Fresh:
    """Each status as a `wa_<status>` event of its dispatch, unless recorded before (INSERT …
    ON CONFLICT DO NOTHING RETURNING): one statement per status was most of the processing's
    cost, and on PostgreSQL a round trip each."""
    rows: dict[Pair, dict[str, Any]] = {}
    for d, ev in statuses:
        rows.setdefault(
            (d.disparo_id, key(ev)),
            {
                "tenant_id": d.tenant_id,
                "disparo_id": d.disparo_id,
                "kind": f"wa_{ev.status}",
                "detail": detail(ev),
                "dedupe_key": key(ev),
                "created_at": now,
            },
        )
    fresh = Fresh(attempted=set(rows))
    if not rows:
        return fresh
    # In key order, so two processes recording the same statuses lock them in the same order.
    ordered = [rows[k] for k in sorted(rows)]
    if session.get_bind().dialect.name == "postgresql":
        columns = {name: [r[name] for r in ordered] for name in ordered[0]}
        columns["detail"] = [json.dumps(d) for d in columns["detail"]]
        found = session.execute(_UNNEST, columns)
    else:
        # One compiled single-row statement sent as multi-row batches ("insertmanyvalues").
        table = table_of(DisparoEvent)
        stmt = (
            upsert.insert(session, table)
            .on_conflict_do_nothing(index_elements=["disparo_id", "dedupe_key"])
            .returning(table.c.disparo_id, table.c.dedupe_key)
        )
        found = session.connection().execute(stmt, ordered)
    fresh.recorded.update((int(i), str(k)) for i, k in found)
    return fresh
