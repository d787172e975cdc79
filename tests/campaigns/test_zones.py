"""Time zones from lead, state, phone area code or default; windows with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from carteiro.campaigns import zones
from carteiro.errors import InvalidInput

SP, MANAUS, NORONHA = "America/Sao_Paulo", "America/Manaus", "America/Noronha"


def test_brazilian_area_codes_use_the_table() -> None:
    # phonenumbers (some versions, some number ranges) puts Recife in Noronha and Belém in
    # Manaus; the table answers the right zone whatever the library says.
    assert zones.phone_zone("+5581988887777") == "America/Recife"
    assert zones.phone_zone("+5591988887777") == "America/Belem"
    assert zones.phone_zone("+5592988887777") == MANAUS
    assert zones.phone_zone("+5511988887777") == SP
    assert zones.phone_zone("+5568988887777") == "America/Rio_Branco"
    assert zones.phone_zone("not a phone") is None
    assert zones.phone_zone("+351912345678") in (None, "Europe/Lisbon")


def test_resolution_order() -> None:
    assert zones.resolve(lead_tz=NORONHA, uf="SP", phone="+5592900000000", default=SP) == (
        NORONHA,
        "lead",
    )
    assert zones.resolve(lead_tz="Mars/Base", uf="am", phone=None, default=SP) == (MANAUS, "uf")
    assert zones.resolve(lead_tz=None, uf="XX", phone="+5592900000000", default=SP) == (
        MANAUS,
        "phone",
    )
    assert zones.resolve(lead_tz=None, uf=None, phone=None, default=SP) == (SP, "default")


def window(at: datetime, tz: str, weekdays: list[int] | None = None) -> datetime:
    return zones.next_in_window(at, tz=tz, start=time(9), end=time(18), weekdays=weekdays)


def test_same_instant_lands_in_each_zone_s_own_window() -> None:
    # 11:30 UTC: 08:30 in São Paulo (before 9), 07:30 in Manaus, 09:30 in Noronha (open).
    now = datetime(2026, 12, 1, 11, 30, tzinfo=UTC)  # a Tuesday
    assert window(now, SP) == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert window(now, MANAUS) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    assert window(now, NORONHA) == now


def test_missed_window_spills_to_the_next_allowed_day_never_into_the_night() -> None:
    late = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)  # 19:00 in São Paulo: window closed
    assert window(late, SP) == datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    friday_evening = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
    assert window(friday_evening, SP, weekdays=[0, 1, 2, 3, 4]) == datetime(
        2026, 12, 7, 12, 0, tzinfo=UTC
    )
    assert zones.in_window(
        datetime(2026, 12, 1, 13, 0, tzinfo=UTC), tz=SP, start=time(9), end=time(18), weekdays=None
    )


def test_unknown_zone_names_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        zones.zone("Nowhere/City")
    assert err.value.field == "default_tz"
