"""DKIM signing of outgoing messages: dkimpy's parsing and canonicalisation, OpenSSL's RSA."""

from __future__ import annotations

import base64
import hashlib
import time

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim import canonicalization
from dkim.canonicalization import CanonicalizationPolicy

# Signed when present, in this order; From is listed twice so a second From cannot be added
# without breaking the signature.
SIGNED_HEADERS: tuple[bytes, ...] = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
_HEADER = b"DKIM-Signature"
_POLICY = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")


def _fields_value(fields: list[tuple[bytes, bytes]]) -> bytes:
    return b"; ".join(b"=".join(f) for f in fields)


def _parse(raw: bytes) -> tuple[list[list[bytes]], bytes]:
    """dkimpy's (headers, body) split, without splitting a CRLF-only body into lines first
    (most of the cost for large messages); anything else goes through dkimpy as is."""
    end = raw.find(b"\r\n\r\n")
    if end < 0 or raw.count(b"\n") != raw.count(b"\r\n"):
        parsed: tuple[list[list[bytes]], bytes] = dkim.rfc822_parse(raw)
        return parsed
    headers, _ = dkim.rfc822_parse(raw[: end + 4])
    return headers, raw[end + 4 :]


def _relaxed_body(body: bytes) -> bytes:
    """dkimpy's relaxed body canonicalisation, skipping the regular expressions whose
    patterns do not occur (base64 and quoted-printable parts never contain them)."""
    if b"\t" in body or b" \r\n" in body:
        body = canonicalization.strip_trailing_whitespace(body)
    if b"\t" in body or b"  " in body:
        body = canonicalization.compress_whitespace(body)
    canonical: bytes = canonicalization.correct_empty_body(
        canonicalization.strip_trailing_lines(body)
    )
    return canonical


class DkimSigner:
    """Signs messages for one domain and selector with relaxed/relaxed rsa-sha256."""

    def __init__(self, *, domain: str, selector: str, key: rsa.RSAPrivateKey) -> None:
        self.domain = domain
        self.selector = selector
        self._domain = domain.encode("ascii")
        self._selector = selector.encode("ascii")
        self._key = key

    @classmethod
    def from_pem(cls, *, domain: str, selector: str, private_pem: str | bytes) -> DkimSigner:
        data = private_pem.encode("ascii") if isinstance(private_pem, str) else private_pem
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("DKIM signing needs an RSA private key")
        return cls(domain=domain, selector=selector, key=key)

    def signature(self, raw: bytes, *, now: float | None = None) -> bytes:
        """The `DKIM-Signature: …` header line (folded, CRLF-terminated) for `raw`."""
        headers, body = _parse(raw)
        present = {name.lower() for name, _ in headers}
        include = tuple(h for h in SIGNED_HEADERS if h in present)
        if b"from" not in include:
            raise ValueError("a message without a From header cannot be DKIM-signed")
        include += (b"from",)
        body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest())
        fields = [
            (b"v", b"1"),
            (b"a", b"rsa-sha256"),
            (b"c", b"relaxed/relaxed"),
            (b"d", self._domain),
            (b"s", self._selector),
            (b"t", str(int(now if now is not None else time.time())).encode("ascii")),
            (b"h", b" : ".join(include)),
            (b"bh", body_hash),
            # A placeholder long enough that b= folds onto its own line, as dkimpy does, so
            # filling it in later does not move the whitespace of the other tags.
            (b"b", b"0" * 60),
        ]
        value = dkim.fold(_fields_value(fields), namelen=len(_HEADER))
        value = dkim.RE_BTAG.sub(b"\\1", value)
        hasher = hashlib.sha256()
        dkim.hash_headers(
            hasher,
            _POLICY,
            _POLICY.canonicalize_headers(headers),
            include,
            (_HEADER, b" " + value),
            dict(fields),
        )
        signed = self._key.sign(hasher.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        fields[-1] = (b"b", base64.b64encode(signed))
        folded: bytes = dkim.fold(_fields_value(fields) + b"\r\n", namelen=len(_HEADER))
        return _HEADER + b": " + folded

    def sign(self, raw: bytes, *, now: float | None = None) -> bytes:
        """`raw` with its DKIM-Signature header prepended (the bytes to send)."""
        return self.signature(raw, now=now) + raw


def strip_signatures(raw: bytes) -> bytes:
    """Drops DKIM-Signature fields (with their folded lines) from the header block."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if b"dkim-signature:" not in head.lower():
        return raw
    kept: list[bytes] = []
    skipping = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.lower().startswith(b"dkim-signature:")
        if not skipping:
            kept.append(line)
    return b"\r\n".join(kept) + sep + body
