"""Runs inbox sync on demand (`sync_account`) and continuously in workers (`inbox_loop`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Literal

from imapclient import IMAPClient
from sqlalchemy import select, update

from carteiro.accounts import imap as account_imap
from carteiro.accounts.models import Account
from carteiro.db.leases import worker_id
from carteiro.errors import Conflict, InvalidInput, NotFound
from carteiro.inbound import outgoing
from carteiro.inbound.locks import Locks, acquire_waiting, make_locks, owner_lock, sync_lock
from carteiro.inbound.models import InboxFolder
from carteiro.inbound.schemas import SyncReport
from carteiro.inbound.sync import AccountSync, Stopped
from carteiro.loops import Backoff, run_every
from carteiro.mail import imap
from carteiro.mail.imap import ImapConfig
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.inbox")

SYNC_WAIT_SECONDS = 30.0
DISCOVER_SECONDS = 30.0
IDLE_TICK = 1.0
OUTBOX_CHECK_SECONDS = 5.0
# Servers drop IDLE after 30 minutes of silence (RFC 2177); renew well before.
IDLE_MAX_SECONDS = 25 * 60
MAX_BACKOFF = 300.0
# Reconnects after a failure: 1 s, 2 s, 4 s … up to five minutes, until a sync succeeds.
RECONNECT = Backoff(base=1.0, cap=MAX_BACKOFF, jitter=False)
Change = Literal["new", "inbox", "outbox", "all"]


def load_config(runtime: Runtime, *, account_id: int, tenant_id: int | None = None) -> ImapConfig:
    with runtime.db.session() as session:
        account = session.get(Account, account_id)
        if account is None or (tenant_id is not None and account.tenant_id != tenant_id):
            raise NotFound(f"account '{account_id}' not found")
        config = account_imap.imap_config(
            account,
            runtime.vault,
            timeout=runtime.settings.smtp_timeout,
            allow_private=runtime.settings.accounts_allow_private,
        )
        if config is None:
            raise InvalidInput(
                f"account '{account.name}' has no IMAP settings: set imap {{host, port, "
                "security, username, password}} first",
                field="imap",
            )
        return config


def sync_account_blocking(
    runtime: Runtime,
    *,
    account_id: int,
    tenant_id: int | None = None,
    wait: float = SYNC_WAIT_SECONDS,
) -> SyncReport:
    """Syncs every folder of the account now, over a new connection, under its sync lock."""
    config = load_config(runtime, account_id=account_id, tenant_id=tenant_id)
    locks = make_locks(runtime.db, worker_id())
    try:
        if not acquire_waiting(locks, sync_lock(account_id), timeout=wait):
            raise Conflict(f"account {account_id} is being synced right now; try again shortly")
        try:
            client = imap.connect(config)
            try:
                return AccountSync(
                    runtime,
                    account_id=account_id,
                    client=client,
                    config=config,
                    keep_alive=locks.renew,
                ).run()
            finally:
                imap.close(client)
        finally:
            locks.release(sync_lock(account_id))
    finally:
        locks.close()


async def sync_account(
    runtime: Runtime, *, account_id: int, tenant_id: int | None = None
) -> SyncReport:
    """`POST /accounts/{id}/sync` and `carteiro inbox sync`: sync now and report."""
    return await asyncio.to_thread(
        sync_account_blocking, runtime, account_id=account_id, tenant_id=tenant_id
    )


def _record_error(runtime: Runtime, account_id: int, message: str) -> None:
    with contextlib.suppress(Exception), runtime.db.session() as session:
        session.execute(
            update(InboxFolder)
            .where(InboxFolder.account_id == account_id)
            .values(last_error=message[:1000])
        )


class AccountOwner(threading.Thread):
    """Keeps one account in sync: a full sync, then IDLE on INBOX (or polling), forever."""

    def __init__(self, runtime: Runtime, *, account_id: int, locks: Locks) -> None:
        super().__init__(name=f"carteiro-inbox-{account_id}", daemon=True)
        self.runtime = runtime
        self.account_id = account_id
        self.locks = locks
        self.stopping = threading.Event()
        self.syncs = 0

    def run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            client: IMAPClient | None = None
            try:
                config = load_config(self.runtime, account_id=self.account_id)
                client = imap.connect(config)
                self._sync(client, config, "all")
                failures = 0
                while not self.stopping.is_set():
                    self._sync(client, config, self._wait_for_change(client, config))
            except Stopped:
                break
            except Exception as exc:
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                log.warning("inbox sync of account %s failed: %s", self.account_id, message)
                _record_error(self.runtime, self.account_id, message)
                failures += 1
                self.stopping.wait(RECONNECT.delay(failures))
            finally:
                imap.close(client)

    def _sync(self, client: IMAPClient, config: ImapConfig, change: Change) -> None:
        name = sync_lock(self.account_id)
        began = time.monotonic()
        if not acquire_waiting(self.locks, name, timeout=SYNC_WAIT_SECONDS):
            return  # someone else is syncing the account right now and will see the same mail
        try:
            roles = {"new": ("inbox",), "inbox": ("inbox",), "outbox": ("sent",)}.get(change)
            AccountSync(
                self.runtime,
                account_id=self.account_id,
                client=client,
                config=config,
                should_stop=self.stopping.is_set,
                keep_alive=self.locks.renew,
            ).run(only_roles=roles, quick=change == "new")
            self.syncs += 1
            log.debug(
                "account %s: %s sync took %.3f s", self.account_id, change, time.monotonic() - began
            )
        finally:
            self.locks.release(name)

    def _inbox_last_uid(self) -> int:
        with self.runtime.db.session() as session:
            found = session.scalar(
                select(InboxFolder.last_uid).where(
                    InboxFolder.account_id == self.account_id, InboxFolder.role == "inbox"
                )
            )
            return int(found or 0)

    def _outbox_waiting(self) -> bool:
        with self.runtime.db.session() as session:
            return bool(outgoing.pending_sent_copies(session, account_id=self.account_id, limit=1))

    def _wait_for_change(self, client: IMAPClient, config: ImapConfig) -> Change:
        deadline = time.monotonic() + min(config.poll_seconds, IDLE_MAX_SECONDS)
        next_outbox = time.monotonic() + OUTBOX_CHECK_SECONDS
        idling = config.idle and client.has_capability("IDLE")
        if idling:
            info = client.select_folder("INBOX", readonly=True)
            # Mail that arrived between the last sync and IDLE would not be announced.
            if int(info.get(b"UIDNEXT") or 0) > self._inbox_last_uid() + 1:
                return "new"
            # Mail that arrives between that SELECT and IDLE is announced before IDLE's
            # continuation; imaplib files such lines where idle_check never looks.
            pending = client._imap.untagged_responses
            pending.pop("EXISTS", None)
            client.idle()
        try:
            if idling and (pending.pop("EXISTS", None) or _buffered(client)):
                return "new"
            while not self.stopping.is_set():
                if idling:
                    kinds = {
                        r[1]
                        for r in client.idle_check(timeout=IDLE_TICK)
                        if isinstance(r, tuple) and len(r) > 1
                    }
                    if kinds & {b"EXPUNGE", b"FETCH"}:
                        return "inbox"
                    if b"EXISTS" in kinds:
                        return "new"
                else:
                    self.stopping.wait(IDLE_TICK)
                now = time.monotonic()
                if now >= deadline:
                    return "all"
                if now >= next_outbox:
                    next_outbox = now + OUTBOX_CHECK_SECONDS
                    if self._outbox_waiting():
                        return "outbox"
            raise Stopped()
        finally:
            if idling:
                client.idle_done()


def _buffered(client: IMAPClient) -> bool:
    """Whether the server's lines already sit in imaplib's read buffer, where idle_check (which
    polls the socket) never looks: an EXISTS sent in the same packet as IDLE's continuation
    would otherwise wait for the next keep-alive. Reads nothing from the socket."""
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return bool(client._imap.file.peek(1))
    except OSError:  # nothing buffered and nothing on the wire (or TLS wants more)
        return False
    finally:
        sock.settimeout(timeout)


def _accounts_to_sync(runtime: Runtime) -> set[int]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(Account.id, Account.imap, Account.status).where(Account.imap.is_not(None))
        ).all()
    wanted = set()
    for account_id, settings, status in rows:
        settings = settings or {}
        enabled = settings.get("sync_enabled", settings.get("imap_sync_enabled", True))
        if settings.get("host") and enabled is not False and status != "disabled":
            wanted.add(account_id)
    return wanted


async def inbox_loop(
    runtime: Runtime, stop: asyncio.Event, *, discover_seconds: float = DISCOVER_SECONDS
) -> None:
    """Keeps every account with IMAP settings in sync until `stop` is set.

    Each account is owned by one worker at a time (an advisory lock on PostgreSQL, a lease
    row on SQLite); other workers pick it up if that worker dies."""
    locks = make_locks(runtime.db, worker_id())
    owners: dict[int, AccountOwner] = {}
    runtime.inbox_owners = owners
    log.info("inbox sync started")
    try:
        await run_every(
            stop,
            discover_seconds,
            lambda: _rebalance(runtime, locks, owners),
            error="inbox sync: could not check accounts",
            logger=log,
        )
    finally:
        for owner in owners.values():
            owner.stopping.set()
        await asyncio.to_thread(_join, list(owners.values()))
        await asyncio.to_thread(locks.close)
        runtime.inbox_owners = None
        log.info("inbox sync stopped")


async def _rebalance(runtime: Runtime, locks: Locks, owners: dict[int, AccountOwner]) -> None:
    wanted = await asyncio.to_thread(_accounts_to_sync, runtime)
    lost = await asyncio.to_thread(locks.renew)
    for account_id in list(owners):
        owner = owners[account_id]
        if account_id not in wanted or owner_lock(account_id) in lost or not owner.is_alive():
            owner.stopping.set()
            await asyncio.to_thread(owner.join, 30)
            del owners[account_id]
            await asyncio.to_thread(locks.release, owner_lock(account_id))
    for account_id in sorted(wanted - set(owners)):
        if await asyncio.to_thread(locks.try_acquire, owner_lock(account_id)):
            owner = AccountOwner(runtime, account_id=account_id, locks=locks)
            owners[account_id] = owner
            owner.start()


def _join(owners: list[AccountOwner]) -> None:
    for owner in owners:
        owner.join(timeout=60)
