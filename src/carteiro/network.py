"""Which addresses a server-side connection may reach: global ones unless private are allowed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

# Prefixes Python 3.11 still calls global although they reach IPv4 space we cannot check:
# 6to4 (RFC 3056) and NAT64 (RFC 6052, RFC 8215).
_TUNNELS = tuple(ipaddress.ip_network(n) for n in ("2002::/16", "64:ff9b::/96", "64:ff9b:1::/48"))


class Refused(Exception):
    """The host is not allowed, or its name did not resolve; `str()` is a fixed sentence."""


def is_global(address: str) -> bool:
    """True only for a public unicast address (never loopback, private, link-local, CGNAT
    100.64/10, documentation, 6to4 or NAT64 ranges, multicast or unspecified)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif any(ip in net for net in _TUNNELS):
            return False
    return ip.is_global and not ip.is_multicast


def _addresses(infos: list[tuple[Any, ...]]) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_global(host: str, port: int) -> list[str]:
    """The host's addresses, all of them global; raises Refused otherwise (a resolver error
    counts as a refusal, so a name that fails now cannot slip through)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused("the host name could not be resolved") from None
    return _checked(_addresses(infos))


async def resolve_global_async(host: str, port: int) -> list[str]:
    """`resolve_global` on the running loop's resolver."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused("the host name could not be resolved") from None
    return _checked(_addresses(infos))


def _checked(addresses: list[str]) -> list[str]:
    if not addresses:
        raise Refused("the host name could not be resolved")
    if not all(is_global(a) for a in addresses):
        # One internal answer is enough to refuse: which one a connection uses is not ours
        # to choose.
        raise Refused("the host resolves to a private, loopback or otherwise internal address")
    return addresses
