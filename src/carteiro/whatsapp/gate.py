"""The signature check of incoming webhooks, against each number's secret kept for seconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from carteiro.accounts.vault import Vault
from carteiro.db.engine import Database
from carteiro.whatsapp import webhooks

# How long a number's secret is trusted without reading it again. A changed secret counts at
# once (a body that fails the kept one is checked against the stored one); the old secret is
# still accepted for at most this long after the change, in each process.
KEEP_SECONDS = 10.0


@dataclass(frozen=True)
class Signer:
    """A number as its webhooks need it: whose it is and what signs its bodies."""

    tenant_id: int
    number_id: int
    secret: str | None
    read_at: float


class Gate:
    """Checks bodies like `webhooks.verify`, reading the number from the database once per
    `KEEP_SECONDS` instead of once per request: the read (a thread hop and a query) and the
    secret's decryption were a third of each webhook's cost."""

    def __init__(
        self, db: Database, vault: Vault, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db, self.vault, self.clock = db, vault, clock
        self._kept: dict[tuple[str, int], Signer] = {}

    async def verify(
        self, *, provider: str, number_id: int, raw: bytes, headers: Mapping[str, str]
    ) -> Signer:
        """The number the body is for; 404 for no such number, 401 without a signature, 403
        with a wrong one (checked on the raw bytes, before anything parses them)."""
        kept = self._kept.get((provider, number_id))
        fresh = kept is not None and self.clock() - kept.read_at < KEEP_SECONDS
        if fresh and kept and webhooks.matches(provider, kept.secret, raw, headers):
            return kept
        signer = await run_in_threadpool(self._read, provider, number_id)
        webhooks.check(provider, signer.secret, raw, headers)
        return signer

    def _read(self, provider: str, number_id: int) -> Signer:
        with self.db.reader() as session:
            number = webhooks.find_number(session, provider, number_id)
            signer = Signer(
                tenant_id=number.tenant_id,
                number_id=number.id,
                secret=webhooks.secret_of(number, self.vault),
                read_at=self.clock(),
            )
        self._kept[(provider, number_id)] = signer
        return signer
