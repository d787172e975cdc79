"""Delivering webhook events: claim due rows with a lease, POST them signed, retry with backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from carteiro import __version__, network
from carteiro.accounts.vault import Vault
from carteiro.db import leases as leader
from carteiro.db.claims import claim_rows
from carteiro.db.engine import Database
from carteiro.db.leases import worker_id
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.loops import Backoff, run_every
from carteiro.runtime import Runtime
from carteiro.webhooks import fanout
from carteiro.webhooks import service as webhooks
from carteiro.webhooks.config import WebhookConfig
from carteiro.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

log = logging.getLogger("carteiro.webhooks")


@dataclass(frozen=True)
class Due:
    id: int
    webhook_id: int
    event_type: str
    attempt: int
    payload: dict[str, Any]
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Result:
    due: Due
    started_at: datetime
    duration: float
    status_code: int | None
    error: str | None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempt: int, config: WebhookConfig, retry_after: float | None = None) -> float:
    """Exponential from the base, capped, with equal jitter; a receiver's Retry-After wins
    when it asks for longer."""
    delay = Backoff(
        base=config.webhook_retry_base_seconds, cap=config.webhook_retry_max_seconds
    ).delay(attempt)
    if retry_after is not None:
        delay = max(delay, min(retry_after, config.webhook_retry_max_seconds))
    return delay


def claim(
    session: Session, *, owner: str, limit: int, lease_seconds: float, vault: Vault
) -> list[Due]:
    """Leases up to `limit` due deliveries (and ones whose worker vanished) to `owner`."""
    now = utcnow()
    due = or_(
        and_(WebhookDelivery.status == "pending", WebhookDelivery.run_at <= now),
        and_(WebhookDelivery.status == "delivering", WebhookDelivery.lease_until < now),
    )
    rows = session.execute(
        claim_rows(
            session,
            WebhookDelivery,
            key=WebhookDelivery.id,
            where=due,
            order_by=[WebhookDelivery.run_at, WebhookDelivery.id],
            limit=limit,
        )
        .values(
            status="delivering",
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=WebhookDelivery.attempts + 1,
            updated_at=now,
        )
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.webhook_id,
            WebhookDelivery.event_type,
            WebhookDelivery.attempts,
            WebhookDelivery.payload,
        ),
        execution_options={"synchronize_session": False},
    ).all()
    if not rows:
        return []
    hooks = {
        h.id: h
        for h in session.execute(
            select(Webhook.id, Webhook.url, Webhook.secret_enc).where(
                Webhook.id.in_({r.webhook_id for r in rows})
            )
        )
    }
    secrets = {i: vault.decrypt(h.secret_enc) for i, h in hooks.items()}
    return sorted(
        (
            Due(
                id=r.id,
                webhook_id=r.webhook_id,
                event_type=r.event_type,
                attempt=r.attempts,
                payload=r.payload,
                url=hooks[r.webhook_id].url,
                secret=secrets[r.webhook_id],
            )
            for r in rows
            if r.webhook_id in hooks
        ),
        key=lambda d: d.id,
    )


@dataclass(frozen=True)
class Target:
    """Where a POST really goes: the checked address, with the name's Host header and SNI."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def pin(url: str, address: str) -> Target:
    """The request for `url` sent to `address`, so nothing resolves the name a second time
    between the check and the connection (DNS rebinding)."""
    parsed = httpx.URL(url)
    extensions = {"sni_hostname": parsed.raw_host.decode("ascii")}
    return Target(
        url=str(parsed.copy_with(host=address)),
        headers={"Host": parsed.netloc.decode("ascii")},
        extensions=extensions if parsed.scheme == "https" else {},
    )


async def target(url: str, config: WebhookConfig) -> Target:
    """The URL as is when private targets are allowed; otherwise its host resolved once, every
    address global (checked again at each delivery, since DNS may change after the URL was
    accepted), and the request pinned to the first one. Raises network.Refused."""
    if config.webhook_allow_private:
        return Target(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await network.resolve_global_async(parts.hostname or "", port)
    return pin(url, addresses[0])


async def post(client: httpx.AsyncClient, due: Due, config: WebhookConfig) -> Result:
    """One signed HTTP POST; never raises."""
    body = json.dumps(due.payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    started, clock = utcnow(), time.perf_counter()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Carteiro-Webhooks/{__version__}",
        "X-Carteiro-Event": due.event_type,
        "X-Carteiro-Delivery": str(due.id),
        webhooks.SIGNATURE_HEADER: webhooks.sign(due.secret, body),
    }
    try:
        where = await target(due.url, config)
    except network.Refused as exc:
        return Result(due, started, 0.0, None, f"refused: {exc}")
    try:
        response = await client.post(
            where.url,
            content=body,
            headers={**headers, **where.headers},
            extensions=where.extensions,
        )
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return Result(due, started, time.perf_counter() - clock, None, reason[:500])
    retry_after = None
    if response.status_code in (429, 503):
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return Result(
        due, started, time.perf_counter() - clock, response.status_code, error, retry_after
    )


def complete(session: Session, *, owner: str, results: list[Result], config: WebhookConfig) -> int:
    """Logs each attempt and moves each delivery on, fenced by the lease. Returns how many
    were delivered."""
    if not results:
        return 0
    now = utcnow()
    session.execute(
        insert(WebhookAttempt),
        [
            {
                "delivery_id": r.due.id,
                "number": r.due.attempt,
                "started_at": r.started_at,
                "duration_ms": int(r.duration * 1000),
                "status_code": r.status_code,
                "error": r.error,
            }
            for r in results
        ],
    )
    delivered = 0
    fence = (WebhookDelivery.lease_owner == owner) & (WebhookDelivery.status == "delivering")
    for r in results:
        values: dict[str, Any] = {
            "lease_owner": None,
            "lease_until": None,
            "last_status_code": r.status_code,
            "last_error": r.error,
            "updated_at": now,
        }
        if r.ok:
            values.update(status="delivered", delivered_at=now)
        elif r.status_code == 410 or r.due.attempt >= config.webhook_max_attempts:
            # 410 Gone: the receiver says the endpoint is retired; retrying cannot help.
            values["status"] = "failed"
        else:
            delay = backoff(r.due.attempt, config, r.retry_after)
            values.update(status="pending", run_at=now + timedelta(seconds=delay))
        changed = dml(
            session,
            update(WebhookDelivery).where(WebhookDelivery.id == r.due.id, fence).values(**values),
            execution_options={"synchronize_session": False},
        ).rowcount
        delivered += int(r.ok and changed == 1)
        if not r.ok:
            log.warning(
                "webhook delivery %s (%s) attempt %s failed: %s",
                r.due.id,
                r.due.event_type,
                r.due.attempt,
                r.error,
            )
    return delivered


def _fan_out(db: Database, owner: str, config: WebhookConfig) -> fanout.FanOut:
    with db.session() as session:
        return fanout.fan_out(
            session,
            owner=owner,
            batch=max(config.webhook_batch_size * 10, 1000),
            lease_seconds=max(30.0, config.webhook_poll_interval * 10),
            public_url=config.public_url,
        )


def _claim(db: Database, owner: str, config: WebhookConfig, vault: Vault) -> list[Due]:
    with db.session() as session:
        return claim(
            session,
            owner=owner,
            limit=config.webhook_batch_size,
            lease_seconds=config.webhook_timeout * 3 + 30,
            vault=vault,
        )


def _complete(db: Database, owner: str, results: list[Result], config: WebhookConfig) -> int:
    with db.session() as session:
        return complete(session, owner=owner, results=results, config=config)


async def run_once(runtime: Runtime, client: httpx.AsyncClient, owner: str) -> tuple[bool, int]:
    """One round: fan out new events, deliver what is due. Returns (events still waiting to be
    fanned out, deliveries attempted)."""
    config = WebhookConfig.from_settings(runtime.settings)
    fanned = await asyncio.to_thread(_fan_out, runtime.db, owner, config)
    due = await asyncio.to_thread(_claim, runtime.db, owner, config, runtime.vault)
    if due:
        gate = asyncio.Semaphore(config.webhook_concurrency)

        async def one(d: Due) -> Result:
            async with gate:
                return await post(client, d, config)

        results = await asyncio.gather(*(one(d) for d in due))
        await asyncio.to_thread(_complete, runtime.db, owner, list(results), config)
    return fanned.backlog, len(due)


async def webhook_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """Fans out and delivers webhook events until `stop` is set; safe to run in every process
    (fan-out runs in one at a time, deliveries are leased row by row)."""
    config = WebhookConfig.from_settings(runtime.settings)
    owner = worker_id()
    timeout = httpx.Timeout(config.webhook_timeout)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:

        async def sweep() -> bool:
            backlog, attempted = await run_once(runtime, client, owner)
            return backlog or attempted >= config.webhook_batch_size

        await run_every(
            stop,
            config.webhook_poll_interval,
            sweep,
            error="webhook round failed; retrying after a pause",
            logger=log,
        )
    await asyncio.to_thread(_release, runtime.db, owner)


def _release(db: Database, owner: str) -> None:
    try:
        with db.session() as session:
            leader.release(session, name=fanout.STATE, owner=owner)
    except Exception:
        log.warning("could not release the webhook scheduler lease", exc_info=True)
