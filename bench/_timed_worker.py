"""`carteiro worker` with the time of its statements on the queue table counted by kind.

    BENCH_STATEMENT_LOG=statements.json .venv/bin/python bench/_timed_worker.py

Every second it writes cumulative {kind: [count, total ms, max ms]} as JSON to the file, so
a bench can take the difference over its measurement window. Nothing in the product changes.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from carteiro.cli.main import main

LOG = Path(os.environ["BENCH_STATEMENT_LOG"])
_stats: dict[str, list[float]] = {}
_lock = threading.Lock()
_started = threading.local()


def kind(statement: str) -> str | None:
    head = statement.lstrip()[:200].upper()
    if head.startswith("SELECT") and "ORDER BY EMAILS.LANE, EMAILS.PRIORITY" in statement.upper():
        return "claim: candidates"
    if head.startswith("UPDATE EMAILS") and "RETURNING" in statement.upper():
        return "claim: lease"
    if head.startswith("UPDATE EMAILS"):
        return "ack: update"
    if head.startswith("INSERT INTO EMAIL_ATTEMPTS") or head.startswith("INSERT INTO EMAIL_EVENTS"):
        return "ack: insert attempts/events"
    return "other"


@event.listens_for(Engine, "before_cursor_execute")
def _before(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
    _started.at = time.perf_counter()


@event.listens_for(Engine, "after_cursor_execute")
def _after(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
    ms = (time.perf_counter() - getattr(_started, "at", time.perf_counter())) * 1000
    name = kind(statement)
    if name is None:
        return
    with _lock:
        entry = _stats.setdefault(name, [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += ms
        entry[2] = max(entry[2], ms)


def _dump() -> None:
    while True:
        time.sleep(1.0)
        with _lock:
            text = json.dumps(_stats)
        tmp = LOG.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(LOG)


if __name__ == "__main__":
    threading.Thread(target=_dump, daemon=True).start()
    sys.argv = ["carteiro", "worker"]
    main()
