"""The responder loop: claim jobs, draft each reply within the token budget, hold or send it."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, replace

from carteiro.config import Settings
from carteiro.db.leases import worker_id
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, RateLimited
from carteiro.inbound.storage import BlobStore
from carteiro.loops import Backoff, run_every, wait_or_stop
from carteiro.responder import classify, drafting, jobs
from carteiro.responder.classify import Classification
from carteiro.responder.jobs import Claimed
from carteiro.responder.model import ModelError, ReplyModel
from carteiro.responder.model import classify as name_error
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.responder")


def configured_model(settings: Settings) -> ReplyModel | None:
    """The configured model, or None (no provider, or LangChain not installed: said once)."""
    if not settings.llm_provider:
        return None
    try:
        # Optional extra: a worker without carteiro[langchain] still runs everything else.
        from carteiro.agents.reply_model import reply_model
    except ImportError as exc:
        log.error("AI replies need LangChain: pip install 'carteiro[langchain]' (%s)", exc)
        return None
    try:
        return reply_model(settings)
    except CarteiroError as exc:
        log.error("AI replies are off: %s", exc.message)
        return None


@dataclass
class Outcome:
    status: str
    pause: float = 0.0


class Responder:
    """One process's share of the work; any number of them can run against one database."""

    def __init__(self, runtime: Runtime, model: ReplyModel, *, owner: str | None = None):
        self.rt = runtime
        self.settings = runtime.settings
        self.model = model
        self.owner = owner or worker_id()
        self.store = BlobStore.for_data_dir(self.settings.data_dir)
        self.backoff = Backoff(
            base=self.settings.responder_retry_base_seconds,
            cap=self.settings.responder_retry_max_seconds,
        )
        # The provider said "slow down": no new claims until then (the jobs wait in the table).
        self.paused_until = 0.0

    @property
    def lease_seconds(self) -> float:
        s = self.settings
        # A claimed batch may wait its turn behind the concurrency gate, each wave one model
        # call at most; the shared lease length is the margin for the database work.
        waves = math.ceil(s.responder_batch_size / s.responder_concurrency)
        return s.llm_timeout_seconds * waves + s.lease_seconds

    def _claim(self) -> list[Claimed]:
        with self.rt.db.session() as session:
            return jobs.claim(
                session,
                owner=self.owner,
                limit=self.settings.responder_batch_size,
                lease_seconds=self.lease_seconds,
            )

    async def run_once(self) -> int:
        """One round: claim a batch and process it; returns how many jobs were claimed."""
        wait = self.paused_until - time.monotonic()
        if wait > 0:
            return 0
        claimed = await asyncio.to_thread(self._claim)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.settings.responder_concurrency)

        async def one(job: Claimed) -> Outcome:
            async with gate:
                return await self.process(job)

        outcomes = await asyncio.gather(*(one(j) for j in claimed))
        pause = max((o.pause for o in outcomes), default=0.0)
        if pause:
            self.paused_until = max(self.paused_until, time.monotonic() + pause)
        return len(claimed)

    async def process(self, job: Claimed) -> Outcome:
        job = replace(job, claimed_at=utcnow())
        waiting = self.paused_until - time.monotonic()
        if waiting > 0:
            # The budget ran out for an earlier job of this batch: the rest go back at once,
            # without building prompts the bucket cannot pay for yet.
            await asyncio.to_thread(drafting.release, self.rt.db, job, self.owner, waiting)
            return Outcome("throttled")
        prepared = await asyncio.to_thread(drafting.prepare, self.rt.db, job)
        if isinstance(prepared, drafting.Unavailable):
            await asyncio.to_thread(self._fail, job, prepared.reason, "rule_unavailable", False)
            return Outcome("failed")
        estimate = prepared.prompt.estimated_tokens() + self.settings.responder_max_reply_tokens
        if prepared.classify:
            estimate += prepared.prompt.estimated_tokens() + classify.MAX_TOKENS
        wait = await asyncio.to_thread(
            drafting.take_budget, self.rt.db, job, self.model.provider, estimate, self.settings
        )
        if wait > 0:
            self.paused_until = max(self.paused_until, time.monotonic() + wait)
            await asyncio.to_thread(drafting.release, self.rt.db, job, self.owner, wait)
            return Outcome("throttled", pause=wait)
        try:
            completion = await asyncio.wait_for(
                self.model.complete(
                    prepared.prompt.messages, max_tokens=self.settings.responder_max_reply_tokens
                ),
                timeout=self.settings.llm_timeout_seconds,
            )
        except Exception as exc:
            error = name_error(exc)
            return await asyncio.to_thread(self._model_failed, job, error, estimate)
        found, other_tokens = (
            await self._classify(job, prepared) if prepared.classify else (None, 0)
        )
        try:
            await asyncio.to_thread(
                drafting.finish,
                self.rt.db,
                job,
                self.owner,
                prepared,
                completion,
                self.model.provider,
                estimate,
                self.settings,
                self.store,
                found,
                other_tokens,
            )
        except ModelError as exc:
            return await asyncio.to_thread(self._model_failed, job, exc, 0)
        except drafting.LeaseLost as exc:
            log.warning("%s", exc)
            return Outcome("lost")
        except RateLimited as exc:
            retry = float(exc.retry_after or 60)
            await asyncio.to_thread(
                self._fail, job, exc.message, "send_rate_limited", True, retry, False
            )
            return Outcome("retry")
        except CarteiroError as exc:
            await asyncio.to_thread(self._fail, job, exc.message, "send_refused", False)
            return Outcome("failed")
        return Outcome("completed")

    async def _classify(
        self, job: Claimed, prepared: drafting.Prepared
    ) -> tuple[Classification | None, int]:
        """Intent, urgency and language, or None: a failed reading never holds up the reply."""
        try:
            answer = await asyncio.wait_for(
                self.model.complete(
                    classify.messages(prepared.prompt), max_tokens=classify.MAX_TOKENS
                ),
                timeout=self.settings.llm_timeout_seconds,
            )
        except Exception as exc:
            log.warning("responder job %s: no classification (%s)", job.id, name_error(exc).kind)
            return None, 0
        found = classify.parse(answer.text)
        if found is None:
            log.warning("responder job %s: the classification was not the JSON asked for", job.id)
        return found, answer.tokens

    def _model_failed(self, job: Claimed, error: ModelError, estimate: int) -> Outcome:
        if estimate:
            # Nothing useful came back; the tokens reserved for it return to the bucket.
            drafting.refund(self.rt.db, job, self.model.provider, estimate)
        rate_limited = error.kind == "rate_limit"
        retry_after = error.retry_after
        if rate_limited and retry_after is None:
            retry_after = self.backoff.delay(job.attempt)
        status = self._fail(
            job, error.message, error.kind, error.retryable, retry_after, not rate_limited
        )
        log.warning("responder job %s: %s (%s) -> %s", job.id, error.kind, error.message, status)
        return Outcome(status, pause=(retry_after or 0.0) if rate_limited else 0.0)

    def _fail(
        self,
        job: Claimed,
        message: str,
        error_type: str,
        retryable: bool,
        retry_after: float | None = None,
        counts: bool = True,
    ) -> str:
        with self.rt.db.session() as session:
            return jobs.fail(
                session,
                job=job,
                owner=self.owner,
                message=message,
                error_type=error_type,
                is_retryable=retryable,
                backoff=self.backoff,
                max_attempts=self.settings.responder_max_attempts,
                retry_after=retry_after,
                counts=counts,
            )


async def responder_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """Drafts AI replies until `stop` is set; safe in any number of processes (jobs are leased
    row by row; an expired lease returns the job, so a killed worker loses none)."""
    model = configured_model(runtime.settings)
    if model is None:
        # Jobs (if any rule hands messages over) wait in the table for a configured worker.
        await stop.wait()
        return
    responder = Responder(runtime, model)
    settings = runtime.settings

    async def sweep() -> bool:
        claimed = await responder.run_once()
        pause = responder.paused_until - time.monotonic()
        if pause > 0:
            await wait_or_stop(stop, pause)
        return claimed >= settings.responder_batch_size

    await run_every(
        stop,
        settings.responder_poll_interval,
        sweep,
        error="responder round failed; retrying after a pause",
        logger=log,
    )
