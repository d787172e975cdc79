"""DKIM key pairs per sending domain: generate, list, the TXT record to publish, remove."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.accounts.dns_schemas import DnsRecord
from carteiro.accounts.vault import Vault
from carteiro.errors import Conflict, NotFound
from carteiro.mail.names import normalise_domain, normalise_selector
from carteiro.outbound.dkim.schemas import DkimKeyPublic
from carteiro.outbound.models import DkimKey

KEY_BITS = 2048
DEFAULT_SELECTOR = "carteiro"


def _new_pair(bits: int) -> tuple[str, str]:
    """(PKCS#8 PEM of the private key, base64 DER of the public key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(der).decode("ascii")


def generate_key(
    session: Session,
    *,
    tenant_id: int,
    domain: str,
    selector: str = DEFAULT_SELECTOR,
    vault: Vault,
    replace: bool = False,
    bits: int = KEY_BITS,
) -> DkimKey:
    """A new key pair for (domain, selector); the private key is stored encrypted.

    An existing key with the same selector is a conflict unless `replace` (then the DNS record
    must be published again: rotate with a new selector to avoid a window of failures)."""
    domain = normalise_domain(domain)
    selector = normalise_selector(selector)
    existing = session.scalar(
        select(DkimKey).where(
            DkimKey.tenant_id == tenant_id, DkimKey.domain == domain, DkimKey.selector == selector
        )
    )
    if existing is not None and not replace:
        raise Conflict(
            f"a DKIM key for {domain} with selector '{selector}' already exists; use another "
            "selector to rotate it",
            field="selector",
        )
    pem, public = _new_pair(bits)
    key = existing or DkimKey(tenant_id=tenant_id, domain=domain, selector=selector)
    key.algorithm, key.bits = "rsa-sha256", bits
    key.private_key_enc = vault.encrypt(pem)
    key.public_key = public
    key.active = True
    if existing is None:
        session.add(key)
    session.flush()
    return key


def ensure_key(
    session: Session,
    *,
    tenant_id: int,
    domain: str,
    selector: str = DEFAULT_SELECTOR,
    vault: Vault,
) -> DkimKey:
    """The domain's active key, generating one with `selector` when there is none."""
    found = active_key(session, tenant_id=tenant_id, domain=domain)
    if found is not None:
        return found
    return generate_key(session, tenant_id=tenant_id, domain=domain, selector=selector, vault=vault)


def active_key(session: Session, *, tenant_id: int, domain: str) -> DkimKey | None:
    """The newest active key of a domain (the one mail is signed with)."""
    return session.scalar(
        select(DkimKey)
        .where(
            DkimKey.tenant_id == tenant_id,
            DkimKey.domain == normalise_domain(domain),
            DkimKey.active.is_(True),
        )
        .order_by(DkimKey.created_at.desc(), DkimKey.id.desc())
        .limit(1)
    )


def dns_record(key: DkimKey) -> DnsRecord:
    """The TXT record that publishes `key` (one string; DNS hosts split it as needed)."""
    return DnsRecord(
        type="TXT",
        name=f"{key.selector}._domainkey.{key.domain}",
        value=f"v=DKIM1; k=rsa; p={key.public_key}",
        purpose="DKIM",
        note="publish as one TXT value; hosts that limit strings to 255 characters split it "
        "into several quoted strings of the same record",
    )


def public(key: DkimKey) -> DkimKeyPublic:
    return DkimKeyPublic(
        id=key.id,
        domain=key.domain,
        selector=key.selector,
        algorithm=key.algorithm,
        bits=key.bits,
        active=key.active,
        created_at=key.created_at,
        record=dns_record(key),
    )


def list_(session: Session, *, tenant_id: int, domain: str | None = None) -> list[DkimKey]:
    stmt = select(DkimKey).where(DkimKey.tenant_id == tenant_id)
    if domain is not None:
        stmt = stmt.where(DkimKey.domain == normalise_domain(domain))
    return list(session.scalars(stmt.order_by(DkimKey.domain, DkimKey.id)))


def get_or_raise(session: Session, *, tenant_id: int, key_id: int) -> DkimKey:
    key = session.scalar(
        select(DkimKey).where(DkimKey.tenant_id == tenant_id, DkimKey.id == key_id)
    )
    if key is None:
        raise NotFound(f"DKIM key {key_id} not found")
    return key


def delete(session: Session, *, tenant_id: int, key_id: int) -> None:
    session.delete(get_or_raise(session, tenant_id=tenant_id, key_id=key_id))
    session.flush()
