"""The dispatch worker loop: claim due dispatches, plan them, call providers at their slots."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from carteiro.db import leases
from carteiro.db.types import utcnow
from carteiro.dispatches import claim, metrics, results
from carteiro.dispatches.plan import Job, Planner
from carteiro.loops import run_every
from carteiro.runtime import Runtime
from carteiro.whatsapp.provider import ErrorClass, ProviderError, SendResult
from carteiro.whatsapp.registry import Providers, TransportFor

log = logging.getLogger("carteiro.dispatches")


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
        """One batch; True while due work may remain."""
        jobs = await asyncio.to_thread(self._plan)
        if not jobs:
            return False
        outcomes = await asyncio.gather(*(self._send(job) for job in jobs))
        await asyncio.to_thread(self._record, list(zip(jobs, outcomes, strict=True)))
        return True

    async def _send(self, job: Job) -> SendResult:
        delay = (job.slot - self.clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
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

    def _record(self, done: list[tuple[Job, SendResult]]) -> None:
        now = self.clock()
        with self.runtime.db.session() as session:
            for job, result in done:
                what = results.apply(
                    session,
                    disparo_id=job.disparo_id,
                    result=result,
                    sent_as=job.sent_as,
                    worker_id=self.worker_id,
                    settings=self.settings,
                    now=now,
                )
                metrics.observe(tenant_id=job.number.tenant_id, canal="whatsapp", outcome=what)
                if what == "sent":
                    self.sent += 1

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await run_every(
                stop,
                self.settings.dispatch_poll_interval,
                self.round,
                error="dispatch round failed",
                logger=log,
            )
        finally:
            await self.providers.aclose()


async def dispatch_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    await DispatchWorker(runtime).run(stop)
