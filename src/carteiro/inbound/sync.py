"""Incremental sync of an account's folders over one IMAP connection (blocking; run in a thread)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future

from imapclient import IMAPClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.db.types import utcnow
from carteiro.errors import NotFound
from carteiro.inbound import (
    fetching,
    flags,
    folders,
    ingest,
    mime,
    outgoing,
    replies,
    resync,
    rules,
    threads,
)
from carteiro.inbound.dbutil import chunks
from carteiro.inbound.models import InboxFolder, InboxMessage
from carteiro.inbound.schemas import FolderReport, SyncReport
from carteiro.inbound.storage import BlobStore
from carteiro.mail.imap import ImapConfig
from carteiro.runtime import Runtime

log = logging.getLogger("carteiro.inbox")

FLAGS_CHUNK = 1000


class Stopped(Exception):
    """The worker is shutting down; the sync stops between pages (nothing half-written)."""


class AccountSync:
    """Syncs one account; the caller holds the account's sync lock and owns `client`."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        account_id: int,
        client: IMAPClient,
        config: ImapConfig,
        should_stop: Callable[[], bool] = lambda: False,
        keep_alive: Callable[[], object] = lambda: None,
    ) -> None:
        self.rt = runtime
        self.account_id = account_id
        self.client = client
        self.config = config
        self.should_stop = should_stop
        self.keep_alive = keep_alive
        self.store = BlobStore.for_data_dir(runtime.settings.data_dir)
        self.condstore = client.has_capability("CONDSTORE")
        with runtime.db.session() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise NotFound(f"account {account_id} not found")
            self.tenant_id = account.tenant_id
            self.report = SyncReport(account_id=account_id, account=account.name)
            self.own = replies.own_addresses(session, tenant_id=account.tenant_id)

    def run(self, *, only_roles: tuple[str, ...] | None = None, quick: bool = False) -> SyncReport:
        """Syncs the folders (only those with `only_roles`, if given).

        `quick` is for IDLE's "new mail" news: no folder listing, no Sent copies, no flag or
        deletion checks, only new UIDs; the next full sync catches up on the rest."""
        started = time.monotonic()
        with self.rt.db.session() as session:
            if quick:
                chosen = folders.enabled(session, account_id=self.account_id)
            else:
                chosen = folders.sync_folders(
                    session,
                    tenant_id=self.tenant_id,
                    account_id=self.account_id,
                    mailboxes=folders.listed(self.client),
                    only=self.config.folders,
                )
                self._purge_missing(session)
            targets = [(f.id, f.name, f.role) for f in chosen]
        if not quick:
            self.report.sent_copies += outgoing.flush_outbox(
                self.rt, account_id=self.account_id, client=self.client, config=self.config
            )
        for folder_id, name, role in targets:
            if only_roles is not None and role not in only_roles:
                continue
            if self.should_stop():
                raise Stopped()
            self.report.folders.append(self.sync_folder(folder_id, name, role, quick=quick))
        for part in self.report.folders:
            self.report.new += part.new
            self.report.flags_changed += part.flags_changed
            self.report.deleted += part.deleted
        self.report.seconds = round(time.monotonic() - started, 3)
        return self.report

    def _purge_missing(self, session: Session) -> None:
        gone = select(InboxFolder.id).where(
            InboxFolder.account_id == self.account_id, InboxFolder.present.is_(False)
        )
        touched = list(
            session.scalars(
                select(InboxMessage.thread_id).where(InboxMessage.folder_id.in_(gone)).distinct()
            )
        )
        if touched:
            session.execute(delete(InboxMessage).where(InboxMessage.folder_id.in_(gone)))
            threads.recount(session, touched)

    # -- one folder -------------------------------------------------------------------------

    def sync_folder(
        self, folder_id: int, name: str, role: str | None, *, quick: bool = False
    ) -> FolderReport:
        part = FolderReport(folder=name, role=role)
        info = self.client.select_folder(name, readonly=True)
        validity = int(info.get(b"UIDVALIDITY") or 0)
        exists = int(info.get(b"EXISTS") or 0)
        modseq = info.get(b"HIGHESTMODSEQ")
        with self.rt.db.session() as session:
            folder = session.get_one(InboxFolder, folder_id)
            stored_validity, last_uid, stored_modseq = (
                folder.uidvalidity,
                folder.last_uid,
                folder.highest_modseq,
            )
        if stored_validity is not None and stored_validity != validity:
            part.uidvalidity_reset = True
            self._reset(folder_id, validity, part)
        else:
            if last_uid and not quick:
                part.flags_changed = flags.refresh(
                    self.rt,
                    self.client,
                    folder_id=folder_id,
                    last_uid=last_uid,
                    modseq=stored_modseq if self.condstore else None,
                )
            found = self.client.search(["UID", f"{last_uid + 1}:*"])
            new = sorted(u for u in found if u > last_uid)
            part.new = self._fetch_new(folder_id, new)
        if not quick or part.uidvalidity_reset:
            part.deleted += self._remove_expunged(folder_id, exists)
        with self.rt.db.session() as session:
            folder = session.get_one(InboxFolder, folder_id)
            folder.uidvalidity = validity
            if not quick or part.uidvalidity_reset:
                # After a quick sync flag changes are still unread: keep the old MODSEQ.
                folder.highest_modseq = int(modseq) if modseq and self.condstore else None
            folder.message_count, folder.unread_count = session.execute(
                select(
                    func.count(InboxMessage.id),
                    func.count(InboxMessage.id).filter(InboxMessage.seen.is_(False)),
                ).where(InboxMessage.folder_id == folder_id)
            ).one()
            folder.last_sync_at = utcnow()
            folder.last_error = None
        return part

    def _fetch_new(self, folder_id: int, uids: list[int]) -> int:
        """Fetches and stores `uids` page by page; while a page is stored, the next one is
        parsed (in worker processes for a large backlog)."""
        added = 0
        parser = fetching.Parser(backlog=len(uids))
        pending: tuple[list[int], Future[list[ingest.Fetched]]] | None = None
        try:
            for start in range(0, len(uids), self.config.page_size):
                if self.should_stop():
                    raise Stopped()
                page = uids[start : start + self.config.page_size]
                with self.rt.db.session() as session:
                    folder = session.get_one(InboxFolder, folder_id)
                    have = ingest.existing_uids(session, folder, page)
                wanted = [u for u in page if u not in have]
                limit = self.rt.settings.max_message_bytes
                raws = fetching.download(self.client, wanted, max_bytes=limit) if wanted else []
                job = parser.submit(raws)
                if pending is not None:
                    added += self._store(folder_id, pending[0], pending[1].result())
                pending = (page, job)
            if pending is not None:
                added += self._store(folder_id, pending[0], pending[1].result())
        finally:
            parser.close()
        return added

    def _store(self, folder_id: int, page: list[int], items: list[ingest.Fetched]) -> int:
        with self.rt.db.session() as session:
            folder = session.get_one(InboxFolder, folder_id)
            ctx = ingest.Context(
                tenant_id=self.tenant_id,
                account_id=self.account_id,
                own_addresses=self.own,
                store=self.store,
                bus=self.rt.bus,
            )
            added = ingest.store_page(session, ctx, folder, items)
            folder.last_uid = max(folder.last_uid or 0, max(page))
            self.report.auto_replies += rules.apply(
                session,
                tenant_id=self.tenant_id,
                account_id=self.account_id,
                folder=folder,
                rows=ctx.new_rows,
                settings=self.rt.settings,
                store=self.store,
                bus=self.rt.bus,
            )
        self.keep_alive()
        return added

    def _remove_expunged(self, folder_id: int, exists: int) -> int:
        with self.rt.db.session() as session:
            count = session.scalar(
                select(func.count(InboxMessage.id)).where(InboxMessage.folder_id == folder_id)
            )
        if count == exists:
            return 0
        on_server = set(self.client.search("ALL"))
        known = flags.known(self.rt, folder_id)
        gone = [row_id for uid, (row_id, _) in known.items() if uid not in on_server]
        if gone:
            self._delete_rows(gone)
        return len(gone)

    def _delete_rows(self, row_ids: list[int]) -> None:
        with self.rt.db.session() as session:
            affected: set[int] = set()
            for part in chunks(row_ids):
                affected.update(
                    session.scalars(select(InboxMessage.thread_id).where(InboxMessage.id.in_(part)))
                )
                session.execute(delete(InboxMessage).where(InboxMessage.id.in_(part)))
            threads.recount(session, affected)

    def _reset(self, folder_id: int, validity: int, part: FolderReport) -> None:
        """UIDVALIDITY changed: re-map what we have by (Message-ID, size), fetch the rest."""
        uids = self.client.search("ALL")
        server: dict[int, tuple[str | None, int, list[str]]] = {}
        field = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
        for start in range(0, len(uids), FLAGS_CHUNK):
            chunk = uids[start : start + FLAGS_CHUNK]
            fetched = self.client.fetch(
                chunk, ["RFC822.SIZE", "FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
            )
            for uid, data in fetched.items():
                ids = mime.message_ids(fetching.text(data.get(field) or b""), 1)
                marks = [fetching.text(f) for f in data.get(b"FLAGS", ())]
                server[uid] = (ids[0] if ids else None, int(data.get(b"RFC822.SIZE") or 0), marks)
        with self.rt.db.session() as session:
            unmatched, stale = resync.remap(
                session, folder_id=folder_id, validity=validity, server=server
            )
        if stale:
            self._delete_rows(stale)
            part.deleted += len(stale)
        part.new = self._fetch_new(folder_id, unmatched)
        with self.rt.db.session() as session:
            folder = session.get_one(InboxFolder, folder_id)
            folder.last_uid = max(server, default=0)
        log.info(
            "folder %s: UIDVALIDITY changed; %d kept, %d fetched, %d removed",
            part.folder,
            len(server) - len(unmatched),
            part.new,
            len(stale),
        )
