"""Wakes dispatchers when new work commits: in-process callbacks and PostgreSQL NOTIFY."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import event, text
from sqlalchemy.orm import Session

CHANNEL = "carteiro_emails"
_listeners: list[Callable[[], object]] = []
_lock = threading.Lock()


def subscribe(callback: Callable[[], object]) -> Callable[[], None]:
    """Registers a thread-safe callback; returns a function that unregisters it."""
    with _lock:
        _listeners.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _listeners:
                _listeners.remove(callback)

    return unsubscribe


def notify_local() -> None:
    with _lock:
        listeners = list(_listeners)
    for callback in listeners:
        callback()


def after_commit(session: Session) -> None:
    """Signals dispatchers once the current transaction commits (never before)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # NOTIFY is transactional: delivered to listening workers only on commit.
        session.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
    if not session.info.get("_wakeup_hooked"):
        session.info["_wakeup_hooked"] = True

        def _fire(_session: Session) -> None:
            _session.info.pop("_wakeup_hooked", None)
            notify_local()

        event.listen(session, "after_commit", _fire, once=True)
