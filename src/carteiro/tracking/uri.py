"""Turning a stored link (an IRI: Unicode host, UTF-8 path) into the ASCII a Location takes."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import idna

# Everything RFC 3986 allows unescaped in these parts, plus '%' so existing escapes stay.
_SAFE = "!$&'()*+,;=:@/?%~-._"


def _host(hostname: str) -> str:
    if hostname.isascii():
        return hostname
    try:
        return idna.encode(hostname, uts46=True).decode("ascii")
    except idna.IDNAError:
        return hostname.encode("idna").decode("ascii")


def to_uri(url: str) -> str:
    """`url` with an IDNA (punycode) host and its other non-ASCII characters percent-encoded
    as UTF-8; an ASCII URL comes back unchanged."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.hostname and not parts.hostname.isascii():
        userinfo, _, hostport = netloc.rpartition("@")
        host, colon, port = hostport.partition(":") if "[" not in hostport else (hostport, "", "")
        netloc = (f"{quote(userinfo, safe=_SAFE)}@" if userinfo else "") + _host(host)
        netloc += f"{colon}{port}"
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_SAFE),
            quote(parts.query, safe=_SAFE),
            quote(parts.fragment, safe=_SAFE + "#"),
        )
    )
