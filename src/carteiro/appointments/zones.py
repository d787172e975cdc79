"""IANA time zones of appointments: validated names, local display."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from carteiro.errors import InvalidInput


def check_zone(name: str) -> str:
    """The zone name if the tz database knows it; a ValueError otherwise (pydantic: 422)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone, e.g. America/Sao_Paulo") from None
    # "localtime" and the like exist on some systems only.
    if "/" not in name and name not in ("UTC", "GMT") and name not in available_timezones():
        raise ValueError(f"'{name}' is not an IANA time zone, e.g. America/Sao_Paulo")
    return name


def local(when: datetime, zone: str) -> datetime:
    return when.astimezone(ZoneInfo(zone))


def spoken(when: datetime, zone: str) -> str:
    """'10/12/2026 às 10:00 (America/Sao_Paulo)', the Brazilian way of writing it."""
    at = local(when, zone)
    return f"{at:%d/%m/%Y} às {at:%H:%M} ({zone})"


def from_local(day: str, hour: str, zone: str) -> datetime:
    """The instant of a local date ('2030-12-10') and time ('14:30') in `zone`; InvalidInput
    naming the form field otherwise."""
    try:
        check_zone(zone)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="timezone") from None
    try:
        on = date.fromisoformat(day.strip())
    except ValueError:
        raise InvalidInput("give the day as YYYY-MM-DD", field="data") from None
    try:
        at = time.fromisoformat(hour.strip())
    except ValueError:
        raise InvalidInput("give the time as HH:MM", field="hora") from None
    return datetime.combine(on, at, tzinfo=ZoneInfo(zone))
