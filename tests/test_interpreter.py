"""Interpreter settings of `carteiro serve`: start-up objects frozen, the rest still collected,
the GIL handed over sooner."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from carteiro import interpreter


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def restored() -> Iterator[None]:
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)


@pytest.mark.usefixtures("restored")
def test_objects_alive_at_start_up_are_frozen_and_later_cycles_still_collected() -> None:
    early = Node()
    early.other = Node()
    early.other.other = early
    frozen = interpreter.tune()
    assert frozen == gc.get_freeze_count() > 1000
    assert gc.get_threshold()[0] == interpreter.YOUNG_THRESHOLD
    assert sys.getswitchinterval() == pytest.approx(interpreter.SWITCH_INTERVAL)
    # A cycle made after start-up is still reclaimed...
    late = Node()
    late.other = Node()
    late.other.other = late
    gone = weakref.ref(late)
    del late
    gc.collect()
    assert gone() is None
    # ...while one alive at start-up is out of the collector's reach until unfrozen.
    kept = weakref.ref(early)
    del early
    gc.collect()
    assert kept() is not None
    gc.unfreeze()
    gc.collect()
    assert kept() is None
