"""One process's pacing of the sends through one number: the rate reached, never exceeded."""

from __future__ import annotations

from collections import deque

# How far behind its theoretical time a send may be before the lost time is given up: a sleep
# that overslept (a busy event loop wakes late) is made up by the next sends going sooner.
TOLERANCE = 0.1


class Pace:
    """A generic cell-rate pacer plus a rolling-window cap.

    Each send has a theoretical time, the previous one's plus `step`; a send may leave up to
    `tolerance` seconds before it. Pacing from the previous send's actual time instead (the
    first version) lost every oversleep, and a loaded loop oversleeps a 4 ms step by about a
    millisecond each time: 70% of the limit. The cap keeps the catch-up from ever putting more
    sends into a rolling window than the rate allows in it: the rate's whole sends in about a
    second (250 in any second at 250/s; one per step when a step is longer than a second)."""

    def __init__(self, step: float, *, tolerance: float = TOLERANCE) -> None:
        self.tolerance = tolerance
        self._tat = float("-inf")
        self._recent: deque[float] = deque()
        self.retune(step)

    def retune(self, step: float) -> None:
        """A new rate (a number slowed down after 130429, or edited); the sends already made
        keep counting in the window, so a change never opens a burst."""
        self.step = step
        self.per_window = max(1, int(1.0 / step + 1e-9))
        # A thousandth longer: two sends exactly a window apart do not both count in one.
        self.window = self.per_window * step * 1.001

    def delay(self, now: float) -> float:
        """Seconds to wait before a send may leave at `now` (0 when it may go now)."""
        recent = self._recent
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        wait = self._tat - self.tolerance - now
        if len(recent) >= self.per_window:
            # Until the window holds one send fewer than the cap (after a slow-down it may
            # hold more than the new cap).
            wait = max(wait, recent[-self.per_window] + self.window - now)
        return max(0.0, wait)

    def take(self, now: float) -> None:
        """A send leaves at `now`."""
        self._tat = max(self._tat, now) + self.step
        self._recent.append(now)
