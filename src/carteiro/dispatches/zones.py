"""A Brazilian lead's state and time zone from its phone's area code (DDD).

A table, not `phonenumbers`: its time-zone data gives several zones (or the wrong one) for
some DDDs, e.g. 81 (Recife, though Fernando de Noronha shares it) and 91 (Belém)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

_UF_BY_DDD: dict[str, tuple[int, ...]] = {
    "SP": (11, 12, 13, 14, 15, 16, 17, 18, 19),
    "RJ": (21, 22, 24),
    "ES": (27, 28),
    "MG": (31, 32, 33, 34, 35, 37, 38),
    "PR": (41, 42, 43, 44, 45, 46),
    "SC": (47, 48, 49),
    "RS": (51, 53, 54, 55),
    "DF": (61,),
    "GO": (62, 64),
    "TO": (63,),
    "MT": (65, 66),
    "MS": (67,),
    "AC": (68,),
    "RO": (69,),
    "BA": (71, 73, 74, 75, 77),
    "SE": (79,),
    "PE": (81, 87),
    "AL": (82,),
    "PB": (83,),
    "RN": (84,),
    "CE": (85, 88),
    "PI": (86, 89),
    "PA": (91, 93, 94),
    "AM": (92, 97),
    "RR": (95,),
    "AP": (96,),
    "MA": (98, 99),
}
UF_BY_DDD = {ddd: uf for uf, ddds in _UF_BY_DDD.items() for ddd in ddds}

ZONE_BY_UF = {
    "SP": "America/Sao_Paulo",
    "RJ": "America/Sao_Paulo",
    "ES": "America/Sao_Paulo",
    "MG": "America/Sao_Paulo",
    "PR": "America/Sao_Paulo",
    "SC": "America/Sao_Paulo",
    "RS": "America/Sao_Paulo",
    "DF": "America/Sao_Paulo",
    "GO": "America/Sao_Paulo",
    "TO": "America/Araguaina",
    "MT": "America/Cuiaba",
    "MS": "America/Campo_Grande",
    "AC": "America/Rio_Branco",
    "RO": "America/Porto_Velho",
    "BA": "America/Bahia",
    "SE": "America/Maceio",
    "AL": "America/Maceio",
    "PE": "America/Recife",
    "PB": "America/Fortaleza",
    "RN": "America/Fortaleza",
    "CE": "America/Fortaleza",
    "PI": "America/Fortaleza",
    "MA": "America/Fortaleza",
    "PA": "America/Belem",
    "AP": "America/Belem",
    "AM": "America/Manaus",
    "RR": "America/Boa_Vista",
}


def uf_of_phone(e164: str | None) -> str | None:
    """'SP' for +55 11 …; None for numbers outside Brazil or unknown area codes."""
    if not e164:
        return None
    digits = "".join(c for c in e164 if c.isdigit())
    if not digits.startswith("55") or len(digits) < 12:
        return None
    return UF_BY_DDD.get(int(digits[2:4]))


def zone_of(uf: str | None, default: str) -> ZoneInfo:
    return ZoneInfo(ZONE_BY_UF.get(uf or "", default))
