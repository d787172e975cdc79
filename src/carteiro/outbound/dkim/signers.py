"""DKIM on the send path: sign once per message with the sender domain's key, if it has one."""

from __future__ import annotations

import threading
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.orm import Session

from carteiro.accounts.vault import Vault
from carteiro.mail.addresses import domain_of
from carteiro.mail.dkim import DkimSigner, strip_signatures
from carteiro.outbound.dkim import keys as dkim_keys
from carteiro.outbound.models import DkimKey

_CACHE_SIZE = 256
_cache: dict[tuple[int, int, str], rsa.RSAPrivateKey] = {}
_cache_lock = threading.Lock()


def from_key(key: DkimKey, *, vault: Vault) -> DkimSigner:
    """A signer for a stored key; decrypted and parsed once per process, then cached."""
    cache_key = (id(vault), key.id, key.private_key_enc)
    with _cache_lock:
        parsed = _cache.get(cache_key)
    if parsed is None:
        pem = vault.decrypt(key.private_key_enc).encode("ascii")
        loaded = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        parsed = loaded
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            _cache[cache_key] = parsed
    return DkimSigner(domain=key.domain, selector=key.selector, key=parsed)


def for_domain(session: Session, *, tenant_id: int, domain: str, vault: Vault) -> DkimSigner | None:
    """The signer of the domain's active key, or None when the domain has no key."""
    key = dkim_keys.active_key(session, tenant_id=tenant_id, domain=domain)
    return None if key is None else from_key(key, vault=vault)


class Signers:
    """Signers looked up once per (tenant, domain) for the life of a request or a claim."""

    def __init__(self, session: Session, vault: Vault) -> None:
        self._session = session
        self._vault = vault
        self._found: dict[tuple[int, str], DkimSigner | None] = {}

    def get(self, *, tenant_id: int, from_email: str) -> DkimSigner | None:
        key = (tenant_id, domain_of(from_email))
        if key not in self._found:
            self._found[key] = for_domain(
                self._session, tenant_id=tenant_id, domain=key[1], vault=self._vault
            )
        return self._found[key]

    def sign(self, raw: bytes, *, tenant_id: int, from_email: str, at: datetime) -> bytes:
        """`raw` with a fresh DKIM-Signature (any old one removed); unchanged without a key.

        The timestamp is the message's creation time, so the same bytes can be rebuilt."""
        signer = self.get(tenant_id=tenant_id, from_email=from_email)
        if signer is None:
            return raw
        return signer.sign(strip_signatures(raw), now=at.timestamp())
