"""Prometheus metrics for dispatches (the seed's DisparosSent and DisparosFailedRate)."""

from __future__ import annotations

import threading
import time
from collections import deque

from prometheus_client import Counter, Gauge

DISPAROS_SENT = Counter(
    "disparos_sent_total", "Dispatches accepted by their provider", ["tenant", "canal"]
)
DISPAROS_FAILED = Counter(
    "disparos_failed_total", "Dispatches that ended in erro", ["tenant", "canal"]
)
DISPAROS_FAILED_RATE = Gauge(
    "disparos_failed_rate",
    "Share of dispatches that failed among those finished in the last hour, per process",
    ["tenant", "canal"],
)
# The alarm the seed names: more than 10% of dispatches failing.
ALARM_RATE = 0.10
WINDOW_SECONDS = 3600.0

_lock = threading.Lock()
_recent: dict[tuple[str, str], deque[tuple[float, bool]]] = {}


def observe(*, tenant_id: int, canal: str, outcome: str) -> None:
    if outcome not in ("sent", "erro"):
        return
    labels = (str(tenant_id), canal)
    failed = outcome == "erro"
    (DISPAROS_FAILED if failed else DISPAROS_SENT).labels(*labels).inc()
    now = time.monotonic()
    with _lock:
        window = _recent.setdefault(labels, deque())
        window.append((now, failed))
        while window and window[0][0] < now - WINDOW_SECONDS:
            window.popleft()
        rate = sum(1 for _, f in window if f) / len(window)
    DISPAROS_FAILED_RATE.labels(*labels).set(rate)


def failure_rate(tenant_id: int, canal: str) -> float:
    with _lock:
        window = _recent.get((str(tenant_id), canal)) or deque()
        return sum(1 for _, f in window if f) / len(window) if window else 0.0
