"""IANA time zones of appointments: validated names, local display."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


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
