"""Classifying hits: the agent of each one, then what a message's hits say together."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from carteiro.tracking.agents import classify_agent

CLASSES = ("human", "apple_proxy", "gmail_prefetch", "scanner", "bot_ua")
# A person does not open three different links of one message within a few seconds; a
# scanner following every link does.
BURST_LINKS = 3
BURST_WINDOW = timedelta(seconds=5)
# Clicks this close to a trap hit come from the same scanner run.
TRAP_WINDOW = timedelta(seconds=30)


@dataclass(frozen=True)
class Hit:
    id: int
    tracked_id: int
    kind: str  # open, click, trap
    link: int | None
    at: datetime
    user_agent: str | None


@dataclass(frozen=True)
class Verdict:
    hit_class: str
    reason: str

    @property
    def human(self) -> bool:
        return self.hit_class == "human"


def _bursts(clicks: Sequence[Hit]) -> set[int]:
    """Ids of clicks inside a window of BURST_WINDOW holding BURST_LINKS distinct links."""
    flagged: set[int] = set()
    ordered = sorted(clicks, key=lambda h: (h.at, h.id))
    start = 0
    for end, hit in enumerate(ordered):
        while hit.at - ordered[start].at > BURST_WINDOW:
            start += 1
        window = ordered[start : end + 1]
        if len({h.link for h in window}) >= BURST_LINKS:
            flagged.update(h.id for h in window)
    return flagged


def classify(pending: Iterable[Hit], context: Iterable[Hit]) -> dict[int, Verdict]:
    """A verdict for each pending hit; `context` holds the other hits of the same messages
    around them (classified or not), which is what bursts and traps are judged on."""
    by_message: dict[int, dict[int, Hit]] = defaultdict(dict)
    for hit in context:
        by_message[hit.tracked_id][hit.id] = hit
    todo = list(pending)
    for hit in todo:
        by_message[hit.tracked_id][hit.id] = hit
    burst: set[int] = set()
    traps: dict[int, list[datetime]] = defaultdict(list)
    for tracked_id, hits in by_message.items():
        burst |= _bursts([h for h in hits.values() if h.kind == "click"])
        traps[tracked_id] = [h.at for h in hits.values() if h.kind == "trap"]
    verdicts: dict[int, Verdict] = {}
    for hit in todo:
        if hit.kind == "trap":
            verdicts[hit.id] = Verdict("scanner", "trap_link")
            continue
        by_agent = classify_agent(hit.user_agent, kind=hit.kind)
        if by_agent is not None:
            verdicts[hit.id] = Verdict(*by_agent)
        elif hit.kind == "click" and any(
            abs(hit.at - at) <= TRAP_WINDOW for at in traps[hit.tracked_id]
        ):
            verdicts[hit.id] = Verdict("scanner", "near_trap_link")
        elif hit.id in burst:
            verdicts[hit.id] = Verdict("scanner", "link_burst")
        else:
            verdicts[hit.id] = Verdict("human", "none")
    return verdicts
