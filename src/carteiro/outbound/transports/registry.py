"""One transport per account, built from the stored settings and rebuilt when they change."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account
from carteiro.accounts.vault import Vault
from carteiro.db.engine import Database
from carteiro.mail.transports.base import Transport
from carteiro.mail.transports.capture import CaptureTransport
from carteiro.mail.transports.smtp import SmtpTransport


class Route(NamedTuple):
    """The transport for an account and the account's name (the attempts' label)."""

    transport: Transport
    name: str


@dataclass
class _Entry:
    transport: Transport
    name: str
    version: datetime
    checked: float


# How long a loaded account's settings are trusted before the next claim re-reads them: the
# claim loop runs many times a second and must not re-read every account row each time.
RECHECK_SECONDS = 5.0


class TransportRegistry:
    """Hands the dispatcher a live transport per account id (None: capture)."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        *,
        capture_dir: Path | None,
        smtp_timeout: float,
        allow_private: bool = True,
    ) -> None:
        self._db = db
        self._allow_private = allow_private
        self.vault = vault
        self._smtp_timeout = smtp_timeout
        self.capture = CaptureTransport(capture_dir)
        self._entries: dict[int, _Entry] = {}
        self._lock = asyncio.Lock()

    def _load(self, account_ids: set[int]) -> dict[int, Account]:
        from sqlalchemy import select

        with self._db.session() as session:
            rows = session.scalars(select(Account).where(Account.id.in_(account_ids)))
            return {a.id: a for a in rows}

    async def refresh(self, account_ids: set[int]) -> None:
        """Builds transports for new accounts and replaces those whose settings changed
        (noticed within RECHECK_SECONDS)."""
        now = time.monotonic()
        stale = {
            a
            for a in account_ids
            if (entry := self._entries.get(a)) is None or now - entry.checked > RECHECK_SECONDS
        }
        if not stale:
            return
        async with self._lock:
            loaded = await asyncio.to_thread(self._load, stale)
            for account_id, account in loaded.items():
                entry = self._entries.get(account_id)
                if entry is not None and entry.version == account.updated_at:
                    entry.checked = now
                    continue
                config = accounts.smtp_config(
                    account,
                    self.vault,
                    timeout=self._smtp_timeout,
                    allow_private=self._allow_private,
                )
                self._entries[account_id] = _Entry(
                    SmtpTransport(config), account.name, account.updated_at, now
                )
                if entry is not None:
                    await entry.transport.close()

    def get(self, account_id: int | None) -> Route | None:
        if account_id is None:
            return Route(self.capture, "capture")
        entry = self._entries.get(account_id)
        return Route(entry.transport, entry.name) if entry else None

    async def close(self) -> None:
        for entry in self._entries.values():
            await entry.transport.close()
        self._entries.clear()
