"""The garbage collector's policy for long-running processes (`serve`, `worker`)."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Moves everything alive once start-up is done (modules, the app, its routes and
    schemas: a few hundred thousand objects) out of the collector's reach; returns how many.

    A full collection walks every tracked object and stops every thread meanwhile: over the
    start-up heap alone it takes 100 ms or more on a busy core, and under load it comes
    every second or so, stalling every request in flight. Frozen, those objects are never
    walked again; what the process allocates later is collected as before."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
