"""DKIM on the send path: sign once per message with the sender domain's key, if it has one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from carteiro.accounts.vault import Vault
from carteiro.deliverability.signing import DkimSigner
from carteiro.outbound.addresses import domain_of


class Signers:
    """Signers looked up once per (tenant, domain) for the life of a request or a claim."""

    def __init__(self, session: Session, vault: Vault) -> None:
        self._session = session
        self._vault = vault
        self._found: dict[tuple[int, str], DkimSigner | None] = {}

    def get(self, *, tenant_id: int, from_email: str) -> DkimSigner | None:
        key = (tenant_id, domain_of(from_email))
        if key not in self._found:
            self._found[key] = DkimSigner.for_domain(
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
