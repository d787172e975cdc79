"""The dispatch worker loop: claim due dispatches, plan them, call providers at their slots."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from carteiro.db import leases
from carteiro.db.types import utcnow
from carteiro.dispatches import claim, metrics, results
from carteiro.dispatches.pace import Pace
from carteiro.dispatches.plan import Job, Planner
from carteiro.loops import wait_or_stop
from carteiro.runtime import Runtime
from carteiro.whatsapp import throttle
from carteiro.whatsapp.provider import ErrorClass, ProviderError, SendResult
from carteiro.whatsapp.registry import Providers, TransportFor

log = logging.getLogger("carteiro.dispatches")
# Batches a worker has in flight at once: one sending while the next is planned.
PIPELINE = 2
# Provider calls in flight per number: when the provider (or this process) answers slowly,
# sending goes no faster than answers come back instead of queueing requests in the HTTP
# pool, whose bookkeeping then grows with the queue (a 250/s run melted down that way). It is
# httpx's keep-alive pool size, so the connections in use are the ones kept open.
IN_FLIGHT = 20


class DispatchWorker:
    """One per process. A claimed dispatch is sent, put back, or (if this process dies) found
    with `inflight_at` set by the next claimer, which then waits for a webhook."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        transport_for: TransportFor | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.clock = clock
        self.worker_id = worker_id or leases.worker_id()
        self.providers = Providers(runtime.settings, runtime.vault, transport_for)
        self.sent = 0
        self._room = asyncio.Semaphore(PIPELINE)
        self._batches: set[asyncio.Task[None]] = set()
        self._turns: dict[int, asyncio.Lock] = {}
        self._paces: dict[int, Pace] = {}
        self._in_flight: dict[int, asyncio.Semaphore] = {}

    def _plan(self) -> list[Job]:
        now = self.clock()
        with self.runtime.db.session() as session:
            ids = claim.claim(
                session,
                worker_id=self.worker_id,
                limit=self.settings.dispatch_batch_size,
                lease_seconds=self.settings.dispatch_lease_seconds,
                now=now,
            )
        if not ids:
            return []
        with self.runtime.db.session() as session:
            return Planner(session, self.settings, worker_id=self.worker_id, now=now).plan(ids)

    async def round(self) -> bool:
        """Plans one batch and sends it; True while due work may remain. The next batch is
        planned while this one's sends wait for their slots (up to PIPELINE batches at once),
        so a number's rate is used fully; slots come from the database, so pacing holds."""
        await self._room.acquire()
        try:
            jobs = await asyncio.to_thread(self._plan)
        except BaseException:
            self._room.release()
            raise
        if not jobs:
            self._room.release()
            await self.drain()
            return False
        task = asyncio.create_task(self._deliver(jobs))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        return True

    async def _deliver(self, jobs: list[Job]) -> None:
        try:
            outcomes = await asyncio.gather(*(self._send(job) for job in jobs))
            await asyncio.to_thread(self._record, list(zip(jobs, outcomes, strict=True)))
        except Exception:
            # The rows keep inflight_at: the next claimer treats them as ambiguous.
            log.exception("recording a dispatch batch failed")
        finally:
            self._room.release()

    async def once(self) -> bool:
        """One round, returning when its sends are recorded."""
        busy = await self.round()
        await self.drain()
        return busy

    async def drain(self) -> None:
        """Waits for the batches being sent (at shutdown, and in tests)."""
        while self._batches:
            await asyncio.gather(*list(self._batches), return_exceptions=True)

    def _step(self, job: Job) -> float:
        n = job.number
        gap = (
            self.settings.whatsapp_evolution_min_interval_seconds
            if n.provider == "evolution"
            else 0.0
        )
        return max(1.0 / throttle.rate(n, self.clock()), gap)

    async def _wait_turn(self, job: Job) -> None:
        """Not before the job's slot, and paced per number within this process: a batch that
        starts behind its slots (a slow plan, a busy machine) catches up without putting more
        than the rate's sends into any second."""
        delay = (job.slot - self.clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        lock = self._turns.setdefault(job.number.id, asyncio.Lock())
        async with lock:
            step = self._step(job)
            pace = self._paces.get(job.number.id)
            if pace is None:
                pace = self._paces[job.number.id] = Pace(step)
            elif pace.step != step:
                pace.retune(step)
            while (gap := pace.delay(time.monotonic())) > 0:
                await asyncio.sleep(gap)
            pace.take(time.monotonic())

    async def _send(self, job: Job) -> tuple[SendResult, float]:
        delay = (job.slot - self.clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        room = self._in_flight.setdefault(job.number.id, asyncio.Semaphore(IN_FLIGHT))
        async with room:
            await self._wait_turn(job)
            started = time.monotonic()
            result = await self._call(job)
        return result, time.monotonic() - started

    async def _call(self, job: Job) -> SendResult:
        provider = self.providers.for_number(job.number)
        try:
            if job.text is not None:
                return await provider.send_text(
                    to=job.to, body=job.text, correlation=job.correlation
                )
            assert job.template is not None
            return await provider.send_template(
                to=job.to, template=job.template, correlation=job.correlation
            )
        except Exception as exc:  # a provider bug must not lose the dispatch's state
            log.exception("WhatsApp provider %s failed", job.number.provider)
            return SendResult(None, error=ProviderError(ErrorClass.AMBIGUOUS, "client", str(exc)))

    def _record(self, done: list[tuple[Job, tuple[SendResult, float]]]) -> None:
        now = self.clock()
        with self.runtime.db.session() as session:
            held = results.lock(session, [job.disparo_id for job, _ in done])
            for job, (result, duration) in done:
                what = results.apply(
                    session,
                    d=held.get(job.disparo_id),
                    result=result,
                    sent_as=job.sent_as,
                    worker_id=self.worker_id,
                    settings=self.settings,
                    now=now,
                )
                metrics.observe(tenant_id=job.number.tenant_id, canal="whatsapp", outcome=what)
                log.info(
                    "dispatch %d: %s",
                    job.disparo_id,
                    what,
                    extra={
                        "tenantId": job.number.tenant_id,
                        "leadId": job.lead_id,
                        "action": "disparo.whatsapp",
                        "result": what,
                        "duration": round(duration, 4),
                        "error": result.error.code if result.error else None,
                    },
                )
                if what == "sent":
                    self.sent += 1

    def _pause(self) -> float:
        now = self.clock()
        with self.runtime.db.session() as session:
            soonest = claim.next_due(session, now=now)
        return claim.pause_before(soonest, now=now, interval=self.settings.dispatch_poll_interval)

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until `stop`; between idle rounds it sleeps until the soonest scheduled
        dispatch is due (at most the poll interval), so a dispatch fires at its time rather
        than up to an interval after it (the appointment reminders' loop does the same)."""
        try:
            while not stop.is_set():
                pause = self.settings.dispatch_poll_interval
                try:
                    if await self.round():
                        continue
                    pause = await asyncio.to_thread(self._pause)
                except Exception:
                    log.exception("dispatch round failed")
                if pause > 0:
                    await wait_or_stop(stop, pause)
        finally:
            await self.drain()
            await self.providers.aclose()


async def dispatch_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    await DispatchWorker(runtime).run(stop)
