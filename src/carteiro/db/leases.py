"""Lease holders' identity: one id per worker process, shared by every leased queue."""

from __future__ import annotations

import os
import socket
import uuid


def worker_id() -> str:
    """Host, process and a random tail: unique across restarts and fits a 64-character owner."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
