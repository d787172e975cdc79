"""The dispatcher: claims batches, delivers them concurrently, acks results in groups."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from carteiro.accounts import connections, limits
from carteiro.db import leases
from carteiro.db.engine import Database
from carteiro.db.types import utcnow
from carteiro.events.bus import Bus
from carteiro.loops import Backoff, run_every
from carteiro.mail.transports.base import DeliveryError, TemporaryFailure
from carteiro.outbound import metrics, queue, wakeup
from carteiro.outbound.claim import Claim, Claimed
from carteiro.outbound.claim import claim as claim_due
from carteiro.outbound.claim import finish as finish_claim
from carteiro.outbound.outcome import Outcome, RetryPolicy
from carteiro.outbound.transports.registry import Route, TransportRegistry
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.worker")
# Retries of an ack write: 0.2 s, 0.4 s … 3.2 s; no jitter, each worker retries its own batch.
ACK_RETRY = Backoff(base=0.2, cap=5.0, jitter=False)


@dataclass(frozen=True)
class DispatcherConfig:
    # SMTP connections this worker may hold at once, across accounts (each account's
    # max_connections is shared by all workers through connection slots).
    concurrency: int = 50
    batch_size: int = 50
    # Messages claimed ahead per connection, so a connection never waits for the database.
    depth: int = 4
    # A worker gives an account's connection slots back after this long with nothing to send.
    slot_idle_seconds: float = 2.0
    lease_seconds: float = 60.0
    poll_interval: float = 1.0
    shutdown_grace: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Injectable so tests can walk through minutes and days of budgets in a second.
    clock: Callable[[], datetime] = utcnow


class Dispatcher:
    """One per worker process. Every claimed message is either acked or released/recovered."""

    def __init__(
        self,
        db: Database,
        transports: TransportRegistry,
        config: DispatcherConfig,
        *,
        worker_id: str | None = None,
        bus: Bus | None = None,
    ) -> None:
        self.db = db
        # Final outcomes are published here (other domains follow their messages).
        self.bus = bus
        self.transports = transports
        self.config = config
        self.worker_id = worker_id or leases.worker_id()
        self._inflight: dict[int, asyncio.Task[None]] = {}
        # Per account: messages held (until acked), those not sent yet, connection slots
        # held, and when it last had work.
        self._busy: collections.Counter[int] = collections.Counter()
        self._unsent: collections.Counter[int] = collections.Counter()
        self._slots: dict[int, int] = {}
        self._last_busy: dict[int, float] = {}
        self._acks: asyncio.Queue[Outcome] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self.sent = 0

    @classmethod
    def from_runtime(
        cls,
        runtime: Runtime,
        *,
        concurrency: int | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Dispatcher:
        """A dispatcher with the runtime's settings, database and vault."""
        s = runtime.settings
        registry = TransportRegistry(
            runtime.db,
            runtime.vault,
            capture_dir=s.data_dir / "captured",
            smtp_timeout=s.smtp_timeout,
            allow_private=s.accounts_allow_private,
        )
        config = DispatcherConfig(
            concurrency=concurrency or s.worker_concurrency,
            batch_size=s.email_batch_size,
            lease_seconds=s.lease_seconds,
            poll_interval=s.poll_interval,
            shutdown_grace=s.shutdown_grace_seconds,
            clock=clock or utcnow,
            retry=RetryPolicy(
                base_seconds=s.retry_base_seconds,
                max_seconds=s.retry_max_seconds,
                breaker_failures=s.breaker_failures,
                cooldown_seconds=s.breaker_cooldown_seconds,
            ),
        )
        return cls(runtime.db, registry, config, bus=runtime.bus)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        unsubscribe = wakeup.subscribe(lambda: loop.call_soon_threadsafe(self._wake.set))
        # Two ack writers: while one transaction commits, the next outcomes are written.
        ackers = [
            asyncio.create_task(self._ack_loop(), name=f"carteiro-acker-{i}") for i in range(2)
        ]
        keeper = asyncio.create_task(self._lease_loop(stop), name="carteiro-leases")
        listener = asyncio.create_task(self._listen(stop), name="carteiro-listen")
        log.info("worker %s started (concurrency %d)", self.worker_id, self.config.concurrency)
        try:
            await self._claim_loop(stop)
        finally:
            unsubscribe()
            listener.cancel()
            keeper.cancel()
            await self._drain()
            await self._acks.join()
            for acker in ackers:
                acker.cancel()
            for task in (*ackers, keeper, listener):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.transports.close()
            # Every connection is closed now: the slots can go back at once.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._release_slots, None)
            log.info("worker %s stopped", self.worker_id)

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        # Room for `depth` messages per connection waiting to be sent, and as many sent ones
        # waiting for their ack.
        capacity = 2 * self.config.concurrency * self.config.depth
        while not stop.is_set():
            await self._release_idle()
            free = capacity - len(self._inflight)
            claimed: list[Claimed] = []
            if free > 0:
                limit = min(self.config.batch_size, free)
                try:
                    # Messages not sent yet: sent ones waiting for their ack no longer need a
                    # connection. A snapshot; sends ending meanwhile only make it claim less.
                    backlog = {a: n for a, n in self._unsent.items() if n > 0}
                    result = await asyncio.to_thread(self._claim, limit, backlog)
                except Exception:
                    log.exception("claim failed; retrying after the poll interval")
                else:
                    claimed = result.items
                    await self._start(claimed, result.slots)
                if claimed and len(claimed) == limit:
                    continue
            self._wake.clear()
            self._slot_freed.clear()
            # Finished sends free room in this worker's backlog for its connections.
            waits = [
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(self._slot_freed.wait()),
            ]
            _, pending = await asyncio.wait(
                waits, timeout=self.config.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for fut in pending:
                fut.cancel()

    def _claim(self, limit: int, backlog: dict[int, int]) -> Claim:
        now = self.config.clock()
        with self.db.session() as session:
            claimed = claim_due(
                session,
                worker_id=self.worker_id,
                limit=limit,
                lease_seconds=self.config.lease_seconds,
                now=now,
                depth=self.config.depth,
                max_slots=self.config.concurrency,
                backlog=backlog,
            )
        if not claimed.items:
            return claimed
        try:
            with self.db.session() as session:
                return finish_claim(
                    session,
                    claimed,
                    worker_id=self.worker_id,
                    vault=self.transports.vault,
                    now=now,
                )
        except Exception:
            # Leased but not sealed (signed, or re-routed): back to the queue now rather
            # than when the lease expires; nothing goes out with a missing signature.
            log.exception("could not sign or rewrite the claimed mail; releasing it")
            with contextlib.suppress(Exception):
                self._release(sorted(c.id for c in claimed.items))
            return Claim([], claimed.slots)

    async def _start(self, claimed: list[Claimed], slots: dict[int, int]) -> None:
        accounts = {c.account_id for c in claimed if c.account_id is not None}
        try:
            await self.transports.refresh(accounts | set(slots))
        except Exception:
            log.exception("could not load account settings")
        now = time.monotonic()
        for account_id, held in slots.items():
            self._last_busy.setdefault(account_id, now)
            found = self.transports.get(account_id)
            if found is not None:
                await found.transport.set_limit(held)
        self._slots = slots
        for item in claimed:
            if item.account_id is not None:
                self._busy[item.account_id] += 1
                self._unsent[item.account_id] += 1
            self._inflight[item.id] = asyncio.create_task(self._deliver(item))

    async def _release_idle(self) -> None:
        """Gives back the connection slots of accounts with nothing to send for a while:
        their connections are closed first, so the account's limit holds at every moment."""
        now = time.monotonic()
        for account_id in list(self._slots):
            if self._busy[account_id]:
                self._last_busy[account_id] = now
        idle = [
            a
            for a, held in self._slots.items()
            if held
            and not self._busy[a]
            and now - self._last_busy.get(a, now) >= self.config.slot_idle_seconds
        ]
        if not idle:
            return
        for account_id in idle:
            found = self.transports.get(account_id)
            if found is not None:
                await found.transport.set_limit(0)
        try:
            await asyncio.to_thread(self._release_slots, idle)
        except Exception:
            log.exception("could not release connection slots; they expire with their lease")
            return
        for account_id in idle:
            self._slots.pop(account_id, None)
            self._last_busy.pop(account_id, None)

    def _release_slots(self, account_ids: list[int] | None) -> None:
        with self.db.session() as session:
            connections.release(session, worker_id=self.worker_id, account_ids=account_ids)

    async def _deliver(self, item: Claimed) -> None:
        try:
            outcome = await self._send(item)
        finally:
            if item.account_id is not None:
                self._unsent[item.account_id] -= 1
        await self._acks.put(outcome)

    async def _send(self, item: Claimed) -> Outcome:
        started_at = self.config.clock()
        t0 = time.perf_counter()
        found = self.transports.get(item.account_id)
        try:
            if found is None:
                raise TemporaryFailure(
                    f"account {item.account_id} could not be loaded", error_type="config"
                )
            result = await found.transport.send(
                sender=item.sender, recipients=item.recipients, raw=item.raw
            )
            outcome = Outcome(item, found.name, started_at, time.perf_counter() - t0, result=result)
        except DeliveryError as exc:
            outcome = self._failure(item, found, started_at, t0, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A transport bug must not lose the message: treat it as temporary.
            log.exception("unexpected error delivering email %s", item.id)
            err = TemporaryFailure(f"internal error: {exc!r}"[:500], error_type="internal")
            outcome = self._failure(item, found, started_at, t0, err)
        return outcome

    def _failure(
        self,
        item: Claimed,
        found: Route | None,
        started_at: datetime,
        t0: float,
        exc: DeliveryError,
    ) -> Outcome:
        account = found.name if found else str(item.account_id)
        return Outcome(item, account, started_at, time.perf_counter() - t0, error=exc)

    async def _ack_loop(self) -> None:
        while True:
            first = await self._acks.get()
            batch = [first]
            while not self._acks.empty() and len(batch) < 500:
                batch.append(self._acks.get_nowait())
            try:
                await self._complete(batch)
            finally:
                for o in batch:
                    self._inflight.pop(o.email.id, None)
                    if o.email.account_id is not None:
                        self._busy[o.email.account_id] -= 1
                    self._acks.task_done()
                self._slot_freed.set()

    async def _complete(self, batch: list[Outcome]) -> None:
        for attempt in range(5):
            try:
                await asyncio.to_thread(self._write_outcomes, batch)
                break
            except Exception:
                # The lease still protects these rows; if the database stays down they are
                # recovered by another worker and may be re-sent (never lost).
                log.exception("ack failed (try %d); retrying", attempt + 1)
                await asyncio.sleep(ACK_RETRY.delay(attempt + 1))
        for o in batch:
            metrics.observe(o)
        self.sent += sum(1 for o in batch if o.error is None)

    def _write_outcomes(self, batch: list[Outcome]) -> None:
        with self.db.session() as session:
            queue.complete(
                session,
                worker_id=self.worker_id,
                outcomes=batch,
                policy=self.config.retry,
                now=self.config.clock(),
                bus=self.bus,
            )

    async def _lease_loop(self, stop: asyncio.Event) -> None:
        await run_every(
            stop,
            self.config.lease_seconds / 2,
            lambda: asyncio.to_thread(self._maintain),
            error="lease maintenance failed",
            logger=log,
        )

    def _maintain(self) -> None:
        with self.db.session() as session:
            now = self.config.clock()
            queue.renew(
                session,
                worker_id=self.worker_id,
                ids=list(self._inflight),
                lease_seconds=self.config.lease_seconds,
                now=now,
            )
            connections.renew(
                session,
                worker_id=self.worker_id,
                now=now,
                lease_seconds=self.config.lease_seconds,
            )
            recovered = queue.recover_expired(session, now=now)
            limits.prune(session, now=now)
        if recovered:
            log.warning("recovered %d message(s) from expired leases", len(recovered))
            self._wake.set()

    async def _listen(self, stop: asyncio.Event) -> None:
        """On PostgreSQL, LISTEN so new mail from any API node wakes this worker at once."""
        if self.db.dialect != "postgresql":
            return
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {wakeup.CHANNEL}")
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); polling until it is back", exc)
                await asyncio.sleep(self.config.poll_interval)

    async def _drain(self) -> None:
        """On shutdown: let in-flight sends finish within the grace period, release the rest."""
        tasks = list(self._inflight.values())
        if tasks:
            _, unfinished = await asyncio.wait(tasks, timeout=self.config.shutdown_grace)
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.wait(unfinished)
        await self._acks.join()
        leftover = list(self._inflight)
        if leftover:
            try:
                await asyncio.to_thread(self._release, leftover)
            except Exception:
                log.exception(
                    "could not release %d message(s); their leases will expire", len(leftover)
                )
            for message_id in leftover:
                self._inflight.pop(message_id, None)

    def _release(self, ids: list[int]) -> None:
        with self.db.session() as session:
            queue.release(session, worker_id=self.worker_id, ids=ids)
