"""Domain names: validating, normalising (lower-case ASCII, IDNA), organisational domain."""

from __future__ import annotations

import re

import idna

from carteiro.errors import InvalidInput

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SELECTOR = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def normalise_domain(value: str, *, field: str = "domain") -> str:
    """The ASCII (punycode) lower-case form of a host name with at least two labels."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be text", field=field)
    domain = value.strip().rstrip(".").lower()
    if domain.startswith("@"):
        domain = domain[1:]
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise InvalidInput(
                f"{field}: {value!r} is not a valid domain name", field=field
            ) from None
    labels = domain.split(".")
    if (
        len(domain) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidInput(
            f"{field}: {value!r} is not a valid domain name (like example.com)", field=field
        )
    return domain


def normalise_selector(value: str, *, field: str = "selector") -> str:
    """A DKIM selector: one or more DNS labels, lower case."""
    selector = (value or "").strip().lower()
    if not _SELECTOR.match(selector) or len(selector) > 63:
        raise InvalidInput(
            f"{field}: {value!r} is not a valid selector (letters, digits and '-', "
            "like 'carteiro' or 's2024')",
            field=field,
        )
    return selector


# Second-level labels under which registrations happen (empresa.com.br, firma.co.uk); a
# small stand-in for the public suffix list, enough to find the organisational domain.
_SECOND_LEVEL = frozenset(
    {"com", "net", "org", "gov", "edu", "co", "ac", "mil", "nom", "art", "adv", "eng", "ind"}
    | {"inf", "med", "ltd", "plc", "blog", "eco", "jus", "leg", "mp", "tv", "br"}
)


def organisational_domain(domain: str) -> str:
    labels = domain.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])
