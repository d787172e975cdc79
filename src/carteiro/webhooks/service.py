"""Webhook endpoints: create, list, delete, URL rules, and the HMAC-SHA256 signature header."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro import network
from carteiro.accounts.vault import Vault
from carteiro.errors import InvalidInput, NotFound
from carteiro.events.types import EVENT_TYPES
from carteiro.webhooks import fanout
from carteiro.webhooks.models import Webhook, WebhookDelivery
from carteiro.webhooks.schemas import (
    DeliveryPage,
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
)

SIGNATURE_HEADER = "X-Carteiro-Signature"
MAX_PER_TENANT = 50
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".intranet")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*$", re.I)
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")


def is_private_address(address: str) -> bool:
    """Anything but a global unicast address: loopback, private, link-local, CGNAT, 6to4,
    NAT64, reserved, multicast or unspecified."""
    ipaddress.ip_address(address)  # a ValueError for a name, as callers expect
    return not network.is_global(address)


def validate_url(url: str, *, allow_private: bool) -> str:
    """An http(s) URL without credentials; internal targets only when `allow_private`."""
    field = "url"
    url = url.strip()
    if _BAD_CHARS.search(url):
        raise InvalidInput("url: must not contain spaces or control characters", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("url: not a valid URL", field=field) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput("url: must start with https:// or http://", field=field)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise InvalidInput("url: has no host name", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "url: must not carry a user name or password; the signature authenticates deliveries",
            field=field,
        )
    if port == 0:
        raise InvalidInput("url: port 0 is not valid", field=field)
    if allow_private:
        return url
    internal = host == "localhost" or host.endswith(_INTERNAL_SUFFIXES)
    try:
        internal = internal or is_private_address(host)
    except ValueError:
        # Hosts like "2130706433" or "0x7f.1" are IP addresses to the resolver.
        internal = internal or bool(_NUMERIC_HOST.match(host))
    if internal:
        raise InvalidInput(
            f"url: {host} is an internal address; webhooks go to public hosts only",
            field=field,
        )
    return url


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The signature header value: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">."""
    t = int(timestamp if timestamp is not None else time.time())
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode("ascii") + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: float = 300, now: float | None = None
) -> bool:
    """For receivers: whether `header` signs `body` with `secret`, within `tolerance` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    current = now if now is not None else time.time()
    if abs(current - t) > tolerance:
        return False
    expected = sign(secret, body, timestamp=t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def public(hook: Webhook) -> WebhookPublic:
    return WebhookPublic(
        id=hook.id,
        url=hook.url,
        events=list(hook.events),
        description=hook.description,
        active=hook.active,
        created_at=hook.created_at,
    )


def create(
    session: Session,
    *,
    tenant_id: int,
    data: WebhookCreate,
    vault: Vault,
    allow_private: bool = False,
) -> WebhookCreated:
    """Registers an endpoint; returns it with its secret, which is never shown again."""
    url = validate_url(data.url, allow_private=allow_private)
    count = session.scalar(select(func.count(Webhook.id)).where(Webhook.tenant_id == tenant_id))
    if (count or 0) >= MAX_PER_TENANT:
        raise InvalidInput(f"a tenant may have at most {MAX_PER_TENANT} webhooks", field="url")
    secret = data.secret or "whsec_" + secrets.token_urlsafe(32)
    events = [e for e in EVENT_TYPES if e in set(data.events)]
    hook = Webhook(
        tenant_id=tenant_id,
        url=url,
        events=events,
        secret_enc=vault.encrypt(secret),
        description=data.description,
        active=True,
    )
    session.add(hook)
    session.flush()
    # From now on every new event is fanned out; older ones are not replayed.
    fanout.ensure_cursor(session)
    return WebhookCreated(**public(hook).model_dump(), secret=secret)


def list_(session: Session, *, tenant_id: int) -> list[Webhook]:
    return list(
        session.scalars(select(Webhook).where(Webhook.tenant_id == tenant_id).order_by(Webhook.id))
    )


def get_or_raise(session: Session, *, tenant_id: int, webhook_id: int) -> Webhook:
    hook = session.scalar(
        select(Webhook).where(Webhook.tenant_id == tenant_id, Webhook.id == webhook_id)
    )
    if hook is None:
        raise NotFound(f"webhook {webhook_id} not found")
    return hook


def delete(session: Session, *, tenant_id: int, webhook_id: int) -> None:
    """Removes the endpoint and its pending deliveries."""
    session.delete(get_or_raise(session, tenant_id=tenant_id, webhook_id=webhook_id))
    session.flush()


def deliveries(
    session: Session,
    *,
    tenant_id: int,
    webhook_id: int,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> DeliveryPage:
    """The delivery log of one endpoint, newest first."""
    get_or_raise(session, tenant_id=tenant_id, webhook_id=webhook_id)
    where = [WebhookDelivery.tenant_id == tenant_id, WebhookDelivery.webhook_id == webhook_id]
    if status is not None:
        where.append(WebhookDelivery.status == status)
    total = session.scalar(select(func.count(WebhookDelivery.id)).where(*where)) or 0
    rows = session.scalars(
        select(WebhookDelivery)
        .where(*where)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    items = [
        DeliveryPublic(
            id=r.id,
            webhook_id=r.webhook_id,
            event_id=r.event_id,
            event_type=r.event_type,
            status=r.status,
            attempts=r.attempts,
            run_at=r.run_at,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            delivered_at=r.delivered_at,
            created_at=r.created_at,
        )
        for r in rows
    ]
    return DeliveryPage(items=items, total=total, limit=limit, offset=offset)
