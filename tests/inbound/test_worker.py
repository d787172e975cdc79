"""The inbox loop: IDLE delivers new mail, one owner per account, locks and leases."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from carteiro import wiring
from carteiro.errors import Conflict
from carteiro.inbound.locks import LeaseLocks, make_locks, sync_lock
from carteiro.inbound.models import InboxFolder, InboxMessage
from carteiro.inbound.worker import _buffered, inbox_loop, sync_account_blocking
from carteiro.runtime import Runtime
from carteiro.testing.dovecot import Dovecot
from conftest import MailFactory

WAIT = 30.0


async def _until(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return True
        await asyncio.sleep(0.05)
    return False


def _synced(runtime: Runtime, account_id: int) -> bool:
    with runtime.db.session() as session:
        inbox = session.scalars(
            select(InboxFolder).where(
                InboxFolder.account_id == account_id, InboxFolder.role == "inbox"
            )
        ).first()
        return inbox is not None and inbox.last_sync_at is not None


def _seen(runtime: Runtime, subject: str) -> bool:
    with runtime.db.session() as session:
        stmt = select(InboxMessage.seen).where(InboxMessage.subject == subject)
        return bool(session.scalar(stmt))


def _subjects(runtime: Runtime) -> set[str]:
    with runtime.db.session() as session:
        return set(session.scalars(select(InboxMessage.subject)))


async def test_new_mail_arrives_through_idle(
    runtime: Runtime, imap_account: int, dovecot: Dovecot, mail: MailFactory
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(inbox_loop(runtime, stop, discover_seconds=0.2))
    try:
        assert await _until(lambda: _synced(runtime, imap_account))
        owner = runtime.inbox_owners[imap_account]  # type: ignore[index]
        syncs = owner.syncs
        # Polling is every 300 s for this account: only IDLE can bring it in quickly.
        await asyncio.to_thread(dovecot.append, "INBOX", mail(subject="chegou agora"))
        assert await _until(lambda: "chegou agora" in _subjects(runtime))
        assert owner.syncs > syncs
        # A flag set in another client arrives the same way.
        (uid,) = await asyncio.to_thread(dovecot.uids, "INBOX")
        await asyncio.to_thread(dovecot.store, "INBOX", [uid], "+FLAGS", ["\\Seen"])
        assert await _until(lambda: _seen(runtime, "chegou agora"))
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert runtime.inbox_owners is None


async def test_one_worker_owns_an_account_and_another_takes_over(
    runtime: Runtime, imap_account: int, dovecot: Dovecot
) -> None:
    other = wiring.runtime(runtime.settings)
    stops = [asyncio.Event(), asyncio.Event()]
    first = asyncio.create_task(inbox_loop(runtime, stops[0], discover_seconds=0.2))
    assert await _until(lambda: imap_account in (runtime.inbox_owners or {}))  # type: ignore[operator]
    second = asyncio.create_task(inbox_loop(other, stops[1], discover_seconds=0.2))
    try:
        await asyncio.sleep(1.0)
        assert imap_account not in other.inbox_owners  # type: ignore[operator]
        stops[0].set()
        await asyncio.wait_for(first, 60)
        assert await _until(lambda: imap_account in other.inbox_owners)  # type: ignore[operator]
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(first, second), 60)
        other.db.dispose()


def test_sync_now_refuses_while_another_sync_holds_the_account(
    runtime: Runtime, imap_account: int, dovecot: Dovecot
) -> None:
    holder = make_locks(runtime.db, "someone-else")
    assert holder.try_acquire(sync_lock(imap_account))
    try:
        with pytest.raises(Conflict):
            sync_account_blocking(runtime, account_id=imap_account, wait=0.3)
    finally:
        holder.release(sync_lock(imap_account))
        holder.close()
    assert sync_account_blocking(runtime, account_id=imap_account).account == "caixa"


def test_locks_exclude_each_other_and_release(runtime: Runtime) -> None:
    a, b = make_locks(runtime.db, "a"), make_locks(runtime.db, "b")
    try:
        assert a.try_acquire("inbox:test")
        assert not b.try_acquire("inbox:test")
        assert a.renew() == set()
        a.release("inbox:test")
        assert b.try_acquire("inbox:test")
    finally:
        a.close()
        b.close()


def test_an_expired_lease_can_be_taken_over(runtime: Runtime) -> None:
    dead = LeaseLocks(runtime.db, "dead-worker", seconds=0.2)
    alive = LeaseLocks(runtime.db, "alive-worker")
    assert dead.try_acquire("inbox:lease")
    assert not alive.try_acquire("inbox:lease")
    time.sleep(0.3)
    assert alive.try_acquire("inbox:lease")
    assert dead.renew() == {"inbox:lease"}  # the old owner learns it lost the lease
    alive.close()


def test_a_line_left_in_the_read_buffer_after_idle_begins_is_seen() -> None:
    """An EXISTS in the same packet as IDLE's continuation stays in imaplib's buffer, where
    idle_check (polling the socket) never looks; the loop must notice it without blocking."""
    ours, server = socket.socketpair()
    imap = SimpleNamespace(file=ours.makefile("rb"))
    client = SimpleNamespace(socket=lambda: ours, _imap=imap)
    try:
        ours.settimeout(5)
        assert not _buffered(client)  # type: ignore[arg-type]  # nothing sent: no wait either
        server.sendall(b"+ idling\r\n* 3 EXISTS\r\n")
        assert imap.file.readline() == b"+ idling\r\n"  # what IMAPClient.idle() reads
        assert _buffered(client)  # type: ignore[arg-type]
        assert ours.gettimeout() == 5  # the socket's timeout is as it was
        assert imap.file.readline() == b"* 3 EXISTS\r\n"
    finally:
        imap.file.close()
        ours.close()
        server.close()
