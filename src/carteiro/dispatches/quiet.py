"""Contact-hour policies, judged at send time in the lead's zone with Brazil's holidays.

`cobranca_br` follows the state laws on collection contacts: São Paulo's Lei 15.426/2014 (and
Alagoas' Lei 7.782/2016): Mon–Fri 08–20, Sat 08–14, never on Sundays or holidays; the stricter
RJ (Lei 7.868/2018: weekdays 09–19), ES (Lei 10.626/2017: weekdays 08–19) and AM (weekdays
until 19) allow no Saturdays. Have these reviewed for your use; they are presets."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

Window = tuple[time, time]
Week = tuple[tuple[Window, ...], ...]  # Monday first

_NONE: tuple[Window, ...] = ()


def _week(weekday: Window | None, saturday: Window | None) -> Week:
    wd = (weekday,) if weekday else _NONE
    return (wd, wd, wd, wd, wd, (saturday,) if saturday else _NONE, _NONE)


_SP = _week((time(8), time(20)), (time(8), time(14)))
COBRANCA_BY_UF: dict[str, Week] = {
    "RJ": _week((time(9), time(19)), None),
    "ES": _week((time(8), time(19)), None),
    "AM": _week((time(8), time(19)), None),
}
COMERCIAL = _week((time(8), time(20)), (time(9), time(13)))
POLICIES = ("cobranca_br", "comercial", "none")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    # The next moment contact is allowed (UTC), when not allowed now.
    next_open: datetime | None = None


@functools.lru_cache(maxsize=256)
def _holidays(uf: str | None, year: int) -> holidays.HolidayBase:
    if uf:
        return holidays.country_holidays("BR", subdiv=uf, years=year)
    return holidays.country_holidays("BR", years=year)


def is_holiday(day: date, uf: str | None) -> bool:
    return day in _holidays(uf, day.year)


def week_for(policy: str, uf: str | None) -> Week | None:
    if policy == "cobranca_br":
        return COBRANCA_BY_UF.get(uf or "", _SP)
    if policy == "comercial":
        return COMERCIAL
    return None


def evaluate(policy: str | None, *, at: datetime, zone: ZoneInfo, uf: str | None) -> Verdict:
    week = week_for(policy or "none", uf)
    if week is None:
        return Verdict(True)
    local = at.astimezone(zone)
    for offset in range(0, 15):
        day = local.date() + timedelta(days=offset)
        if is_holiday(day, uf):
            continue
        for start, end in week[day.weekday()]:
            opens = datetime.combine(day, start, tzinfo=zone)
            closes = datetime.combine(day, end, tzinfo=zone)
            if offset == 0 and opens <= local < closes:
                return Verdict(True)
            if local < opens:
                return Verdict(False, opens.astimezone(at.tzinfo))
    return Verdict(False, None)


def jittered(moment: datetime, jitter_seconds: float) -> datetime:
    """Spread deferred dispatches over the window's first minutes (no 08:00 stampede)."""
    return moment + timedelta(seconds=random.uniform(0, jitter_seconds))
