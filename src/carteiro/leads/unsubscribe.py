"""One-click unsubscribe (RFC 8058): encrypted tokens, List-Unsubscribe headers, the opt-out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.accounts.vault import load_or_create_secret
from carteiro.config import Settings
from carteiro.errors import CarteiroError
from carteiro.events import outbox
from carteiro.events.bus import Bus, Unsubscribed
from carteiro.leads import suppression
from carteiro.leads.models import Suppression
from carteiro.outbound import events
from carteiro.outbound.models import Email
from carteiro.tenancy.models import Tenant

_VERSION = 1
_PURPOSE = b"carteiro/unsubscribe/v1"
# Version 2 encrypts the payload (AES-256-GCM), so a link no longer shows whom it unsubscribes;
# version 1 links (signed, readable) already in mailboxes stay valid until they expire.
_SEALED = 2
_SEALED_PURPOSE = b"carteiro/unsubscribe/v2"
_NONCE = 12
MAX_TOKEN = 1000


class InvalidToken(CarteiroError):
    """The link was altered, truncated or made up."""

    status = 400
    code = "invalid_token"


class ExpiredToken(CarteiroError):
    """The link was genuine but is older than the configured lifetime."""

    status = 410
    code = "expired_token"


@dataclass(frozen=True)
class UnsubscribeToken:
    tenant_id: int
    address: str
    email_id: int | None = None
    campaign_id: int | None = None
    issued_at: int = 0
    # Bulk mail is signed before its row (and id) exists: the Message-ID names it instead.
    message_id: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=8)
def _key(secret_key: str | None, data_dir: Path) -> bytes:
    # Derived, so the vault's encryption key and the token key never coincide.
    secret = secret_key or load_or_create_secret(data_dir)
    return hmac.new(secret.encode("utf-8"), _PURPOSE, hashlib.sha256).digest()


@lru_cache(maxsize=8)
def _sealing_key(secret_key: str | None, data_dir: Path) -> AESGCM:
    secret = secret_key or load_or_create_secret(data_dir)
    return AESGCM(hmac.new(secret.encode("utf-8"), _SEALED_PURPOSE, hashlib.sha256).digest())


def token_key(settings: Settings) -> bytes:
    return _key(settings.secret_key, Path(settings.data_dir))


def _sealer(settings: Settings) -> AESGCM:
    return _sealing_key(settings.secret_key, Path(settings.data_dir))


def issue(
    settings: Settings,
    *,
    tenant_id: int,
    address: str,
    email_id: int | None = None,
    campaign_id: int | None = None,
    message_id: str | None = None,
    now: float | None = None,
) -> str:
    """An opaque URL-safe token: the tenant, address, message and issue time, encrypted and
    authenticated with AES-256-GCM under a key derived from the secret key."""
    issued = int(now if now is not None else time.time())
    fields = [tenant_id, address.strip().lower(), email_id, campaign_id, issued]
    payload = json.dumps(
        [*fields, message_id] if message_id else fields,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    header = bytes([_SEALED])
    nonce = os.urandom(_NONCE)
    return _b64(header + nonce + _sealer(settings).encrypt(nonce, payload, header))


def _open_sealed(settings: Settings, token: str, bad: InvalidToken) -> list[object]:
    try:
        raw = _unb64(token)
    except (binascii.Error, ValueError):
        raise bad from None
    header, nonce, sealed = raw[:1], raw[1 : 1 + _NONCE], raw[1 + _NONCE :]
    if header != bytes([_SEALED]) or len(nonce) != _NONCE:
        raise bad
    try:
        fields = json.loads(_sealer(settings).decrypt(nonce, sealed, header))
    except (InvalidTag, ValueError, TypeError):
        raise bad from None
    # A sixth field names the message by its Message-ID: bulk mail is sealed before its row
    # (and id) exists.
    if not isinstance(fields, list) or len(fields) not in (5, 6):
        raise bad
    return fields


def _open_signed(settings: Settings, token: str, bad: InvalidToken) -> list[object]:
    body, _, signature = token.partition(".")
    try:
        payload, mac = _unb64(body), _unb64(signature)
    except (binascii.Error, ValueError):
        raise bad from None
    expected = hmac.new(token_key(settings), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise bad
    try:
        decoded: list[object] = json.loads(payload)
        version, *fields = decoded
    except (ValueError, TypeError):
        raise bad from None
    if version != _VERSION or len(fields) != 5:
        raise bad
    return fields


def verify(settings: Settings, token: str, *, now: float | None = None) -> UnsubscribeToken:
    """The token's content if it is genuine and has not expired; raises otherwise."""
    bad = InvalidToken("this unsubscribe link is not valid (it may be incomplete)")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN or token.count(".") > 1:
        raise bad
    opener = _open_signed if "." in token else _open_sealed
    tenant_id, address, email_id, campaign_id, issued, *rest = opener(settings, token, bad)
    if not isinstance(tenant_id, int) or not isinstance(address, str):
        raise bad
    if not isinstance(issued, int):
        raise bad
    if not (email_id is None or isinstance(email_id, int)):
        raise bad
    if not (campaign_id is None or isinstance(campaign_id, int)):
        raise bad
    message_id = rest[0] if rest else None
    if message_id is not None and not isinstance(message_id, str):
        raise bad
    ttl_days = settings.unsubscribe_ttl_days
    current = now if now is not None else time.time()
    if ttl_days > 0 and current - issued > ttl_days * 86400:
        raise ExpiredToken("this unsubscribe link has expired; use a link from a newer message")
    return UnsubscribeToken(tenant_id, address, email_id, campaign_id, issued, message_id)


def _public_url(settings: Settings) -> str:
    """Where recipients reach this server; without CARTEIRO_PUBLIC_URL, the listening address."""
    return str(settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{_public_url(settings)}/u/{token}"


def public_url_problem(settings: Settings) -> str | None:
    """Why recipients could not reach the unsubscribe links, or None when they can."""
    base = _public_url(settings)
    if not settings.public_url:
        return (
            f"CARTEIRO_PUBLIC_URL is not set: unsubscribe links in bulk mail point at {base}, "
            "which recipients cannot reach; set it to this server's public address "
            "(e.g. https://mail.example.com)"
        )
    host = urlsplit(base).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return f"CARTEIRO_PUBLIC_URL is {base}, a loopback address recipients cannot reach"
    return None


def list_unsubscribe_headers(
    settings: Settings,
    *,
    tenant_id: int,
    address: str,
    email_id: int | None = None,
    campaign_id: int | None = None,
    message_id: str | None = None,
    mailto: str | None = None,
) -> dict[str, str]:
    """List-Unsubscribe (mailto when given, and the one-click https URL) and
    List-Unsubscribe-Post, for one recipient of a bulk message."""
    token = issue(
        settings,
        tenant_id=tenant_id,
        address=address,
        email_id=email_id,
        campaign_id=campaign_id,
        message_id=message_id,
    )
    links = []
    if mailto:
        links.append(f"<mailto:{quote(mailto, safe='@.+-_')}?subject=unsubscribe>")
    links.append(f"<{unsubscribe_url(settings, token)}>")
    return {
        "List-Unsubscribe": ", ".join(links),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def is_unsubscribed(session: Session, token: UnsubscribeToken) -> bool:
    found = suppression.is_suppressed(session, tenant_id=token.tenant_id, addresses=[token.address])
    return token.address in found


def unsubscribe(
    session: Session,
    *,
    token: UnsubscribeToken,
    source: str = "one-click",
    bus: Bus | None = None,
) -> tuple[Suppression, bool]:
    """Suppresses the token's address (reason unsubscribe) and records the event once; the
    bus's subscribers (a campaign's counters) hear of it in the same transaction."""
    if session.get(Tenant, token.tenant_id) is None:
        raise InvalidToken("this unsubscribe link is not valid")
    detail = {"email_id": token.email_id, "campaign_id": token.campaign_id}
    row, created = suppression.suppress(
        session,
        tenant_id=token.tenant_id,
        email=token.address,
        reason="unsubscribe",
        source=source,
        detail={k: v for k, v in detail.items() if v is not None} or None,
    )
    if not created:
        return row, False
    email = None
    if token.email_id is not None or token.message_id is not None:
        which = (
            Email.id == token.email_id
            if token.email_id is not None
            else Email.message_id == token.message_id
        )
        email = session.scalars(
            select(Email).where(which, Email.tenant_id == token.tenant_id).limit(1)
        ).first()
    if email is not None:
        events.record(session, email=email, type="unsubscribed", detail={"address": row.value})
    outbox.emit(
        session,
        tenant_id=token.tenant_id,
        type="unsubscribed",
        payload={
            "address": row.value,
            "email_id": email.id if email is not None else None,
            "message_id": email.message_id if email is not None else None,
            "campaign_id": token.campaign_id,
            "source": source,
        },
    )
    if bus is not None:
        bus.publish(
            session,
            Unsubscribed(
                tenant_id=token.tenant_id,
                address=row.value,
                campaign_id=token.campaign_id,
                email_id=email.id if email is not None else None,
                source=source,
            ),
        )
    return row, True
