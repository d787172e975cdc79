"""Each recipient's time zone (lead, state, phone area code, tenant default) and send windows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

from carteiro.errors import InvalidInput

# States (UF) to their IANA zone.
UF_ZONES = {
    "AC": "America/Rio_Branco",
    "AL": "America/Maceio",
    "AP": "America/Belem",
    "AM": "America/Manaus",
    "BA": "America/Bahia",
    "CE": "America/Fortaleza",
    "DF": "America/Sao_Paulo",
    "ES": "America/Sao_Paulo",
    "GO": "America/Sao_Paulo",
    "MA": "America/Fortaleza",
    "MT": "America/Cuiaba",
    "MS": "America/Campo_Grande",
    "MG": "America/Sao_Paulo",
    "PA": "America/Belem",
    "PB": "America/Fortaleza",
    "PR": "America/Sao_Paulo",
    "PE": "America/Recife",
    "PI": "America/Fortaleza",
    "RJ": "America/Sao_Paulo",
    "RN": "America/Fortaleza",
    "RS": "America/Sao_Paulo",
    "RO": "America/Porto_Velho",
    "RR": "America/Boa_Vista",
    "SC": "America/Sao_Paulo",
    "SP": "America/Sao_Paulo",
    "SE": "America/Maceio",
    "TO": "America/Araguaina",
}

# Brazilian area codes (DDD) to their state. phonenumbers maps 81 (Recife) to Noronha and 91
# (Belém) to Manaus, an hour off either way, so Brazil uses this table instead.
DDD_UF = {
    **dict.fromkeys((11, 12, 13, 14, 15, 16, 17, 18, 19), "SP"),
    **dict.fromkeys((21, 22, 24), "RJ"),
    **dict.fromkeys((27, 28), "ES"),
    **dict.fromkeys((31, 32, 33, 34, 35, 37, 38), "MG"),
    **dict.fromkeys((41, 42, 43, 44, 45, 46), "PR"),
    **dict.fromkeys((47, 48, 49), "SC"),
    **dict.fromkeys((51, 53, 54, 55), "RS"),
    61: "DF",
    **dict.fromkeys((62, 64), "GO"),
    63: "TO",
    **dict.fromkeys((65, 66), "MT"),
    67: "MS",
    68: "AC",
    69: "RO",
    **dict.fromkeys((71, 73, 74, 75, 77), "BA"),
    79: "SE",
    **dict.fromkeys((81, 87), "PE"),
    82: "AL",
    83: "PB",
    84: "RN",
    **dict.fromkeys((85, 88), "CE"),
    **dict.fromkeys((86, 89), "PI"),
    **dict.fromkeys((91, 93, 94), "PA"),
    **dict.fromkeys((92, 97), "AM"),
    95: "RR",
    96: "AP",
    **dict.fromkeys((98, 99), "MA"),
}
# Santarém (93) keeps its own zone name, same offset as Belém.
DDD_ZONES = {ddd: UF_ZONES[uf] for ddd, uf in DDD_UF.items()} | {93: "America/Santarem"}


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone '{name}'", field="default_tz") from None


def valid_zone(name: str) -> bool:
    try:
        zone(name)
    except InvalidInput:
        return False
    return True


def phone_zone(e164: str) -> str | None:
    """The zone of a phone number: the DDD table for Brazil, phonenumbers elsewhere."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code == 55:
        national = str(number.national_number)
        return DDD_ZONES.get(int(national[:2])) if len(national) >= 10 else None
    zones = [z for z in phone_zones.time_zones_for_number(number) if valid_zone(z)]
    return zones[0] if len(zones) == 1 else None


def resolve(
    *, lead_tz: str | None, uf: str | None, phone: str | None, default: str
) -> tuple[str, str]:
    """(zone, where it came from): the lead's own zone, else its state, else its phone's area
    code, else the tenant's default."""
    if lead_tz and valid_zone(lead_tz):
        return lead_tz, "lead"
    if uf and uf.strip().upper() in UF_ZONES:
        return UF_ZONES[uf.strip().upper()], "uf"
    if phone:
        found = phone_zone(phone)
        if found:
            return found, "phone"
    return default, "default"


def parse_hhmm(value: str, *, field: str) -> time:
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise InvalidInput(f"'{value}' is not a time of day HH:MM", field=field) from None


def next_in_window(
    at: datetime, *, tz: str, start: time, end: time, weekdays: list[int] | None
) -> datetime:
    """The first instant at or after `at` that is inside [start, end) local time on an allowed
    weekday (0 = Monday); a window already passed spills to the next allowed day, never into
    the night."""
    local = at.astimezone(zone(tz))
    days = set(weekdays) if weekdays else set(range(7))
    for offset in range(8):
        day: date = local.date() + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opens = datetime.combine(day, start, tzinfo=zone(tz))
        closes = datetime.combine(day, end, tzinfo=zone(tz))
        if offset == 0 and opens <= local < closes:
            return at
        if local < opens:
            return opens.astimezone(at.tzinfo)
    raise InvalidInput("the send window never opens (check weekdays)", field="weekdays")


def in_window(at: datetime, *, tz: str, start: time, end: time, weekdays: list[int] | None) -> bool:
    return next_in_window(at, tz=tz, start=start, end=end, weekdays=weekdays) == at
