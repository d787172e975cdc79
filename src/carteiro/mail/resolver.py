"""The DNS boundary: TXT, MX and address look-ups through dnspython against a chosen resolver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.TXT import TXT

from carteiro.config import Settings


class LookupFailed(Exception):
    """The resolver did not give an answer (timeout, SERVFAIL, refused): not 'no record'."""


class Resolver(Protocol):
    def txt(self, name: str) -> list[str]: ...
    def mx(self, name: str) -> list[tuple[int, str]]: ...
    def addresses(self, name: str) -> list[str]: ...


@dataclass(frozen=True)
class DnsConfig:
    """Which name servers to ask (none: the system's), on which port, for how long."""

    dns_nameservers: tuple[str, ...] = ()
    dns_port: int = 53
    dns_timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DnsConfig:
        configured = settings.dns_nameservers
        servers = (
            [v for v in configured.replace(",", " ").split() if v]
            if isinstance(configured, str)
            else configured
        )
        return cls(
            dns_nameservers=tuple(str(v) for v in servers or ()),
            dns_port=int(settings.dns_port),
            dns_timeout=float(settings.dns_timeout),
        )


@dataclass
class DnsResolver:
    """dnspython's stub resolver; with `nameservers` it asks only those (IP, port)."""

    nameservers: tuple[str, ...] = ()
    port: int = 53
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.nameservers:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = list(self.nameservers)
            resolver.port = self.port
        else:
            resolver = dns.resolver.Resolver()
        resolver.timeout = self.timeout
        resolver.lifetime = self.timeout
        # Answers change while people fix their records; a cache would hide the fix.
        resolver.cache = None
        self._resolver = resolver

    @classmethod
    def from_config(cls, config: DnsConfig) -> DnsResolver:
        return cls(
            nameservers=config.dns_nameservers, port=config.dns_port, timeout=config.dns_timeout
        )

    def _query(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        try:
            answer = self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.NoNameservers as exc:
            raise LookupFailed(f"no name server answered for {name} {rdtype}") from exc
        except dns.exception.Timeout as exc:
            raise LookupFailed(f"DNS timeout looking up {name} {rdtype}") from exc
        except (dns.name.NameTooLong, dns.name.EmptyLabel, dns.name.LabelTooLong) as exc:
            raise LookupFailed(f"{name} is not a valid DNS name") from exc
        except dns.exception.DNSException as exc:
            raise LookupFailed(f"DNS error looking up {name} {rdtype}: {exc}") from exc
        return list(answer.rrset or [])

    def txt(self, name: str) -> list[str]:
        """Every TXT record at `name`, its character-strings joined (as SPF and DKIM need)."""
        return [
            b"".join(r.strings).decode("utf-8", "replace")
            for r in self._query(name, "TXT")
            if isinstance(r, TXT)
        ]

    def mx(self, name: str) -> list[tuple[int, str]]:
        records = [
            (r.preference, r.exchange.to_text(omit_final_dot=True).lower())
            for r in self._query(name, "MX")
            if isinstance(r, MX)
        ]
        return sorted(records)

    def addresses(self, name: str) -> list[str]:
        found = [r.to_text() for r in self._query(name, "A")]
        return found + [r.to_text() for r in self._query(name, "AAAA")]


def dkim_dnsfunc(resolver: Resolver) -> Callable[..., bytes]:
    """A `dnsfunc` for dkimpy's verifier that asks `resolver` instead of the system's."""

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes:
        text = name.decode("ascii") if isinstance(name, bytes) else name
        records = resolver.txt(text.rstrip("."))
        return records[0].encode("utf-8") if records else b""

    return dnsfunc
