"""Interpreter settings for `carteiro serve`, where requests wait on the event loop."""

from __future__ import annotations

import gc
import sys

# Allocations (net of frees) between two collections of the youngest generation; Python's
# default is 700.
YOUNG_THRESHOLD = 10_000
# Seconds a thread running Python keeps the GIL once another thread asks for it; Python's
# default is 0.005.
SWITCH_INTERVAL = 0.001


def tune() -> int:
    """Once start-up is done: freezes every object alive then, collects less often and hands
    the GIL over sooner. Returns how many objects froze.

    Each collection stops every thread. A full one walked the whole start-up heap (modules,
    the app, its routes and schemas: a few hundred thousand objects, over 100 ms on a busy
    core), and under a few thousand requests a second one came every half second, stalling
    every request in flight. Frozen, those objects are never walked again; what the process
    allocates later is still collected, in fewer, slightly longer young collections (and so
    in fewer full ones).

    The event loop gives the GIL up at every callback into libuv and asks for it back a
    few times per request; while a worker thread runs Python (a tracking sweep, a batch's
    statements), each of those waits out the switch interval: tens of milliseconds per
    request at the default, a few at this one."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    sys.setswitchinterval(SWITCH_INTERVAL)
    return gc.get_freeze_count()
