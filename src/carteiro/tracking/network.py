"""The client's network, kept only as a keyed hash of its /24 (IPv4) or /48 (IPv6)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from functools import lru_cache
from pathlib import Path

from carteiro.accounts.vault import load_or_create_secret
from carteiro.config import Settings

_PURPOSE = b"carteiro/tracking/network/v1"


@lru_cache(maxsize=8)
def _key(secret_key: str | None, data_dir: Path) -> bytes:
    secret = secret_key or load_or_create_secret(data_dir)
    return hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()


def prefix(address: str) -> str | None:
    """'203.0.113.0/24' for an IPv4 address, '2001:db8:1::/48' for IPv6; None if unparsable."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def network_hash(settings: Settings, address: str | None) -> str | None:
    """16 hex digits naming the network (same network, same value; the address is not kept)."""
    if not address:
        return None
    return _hashed(_key(settings.secret_key, settings.data_dir), address)


@lru_cache(maxsize=65536)
def _hashed(key: bytes, address: str) -> str | None:
    # Cached: the same clients come back (proxies, scanners), and parsing costs the hot path.
    found = prefix(address)
    if found is None:
        return None
    return hmac.new(key, found.encode("ascii"), hashlib.sha256).hexdigest()[:16]
