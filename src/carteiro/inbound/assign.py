"""Which thread each message of a page joins; new threads get their ids in one go."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.inbound import threads
from carteiro.inbound.dbutil import allocate_ids, chunks
from carteiro.inbound.models import InboxThread
from carteiro.inbound.parse import ParsedMessage
from carteiro.outbound.models import Email


class PageThreads:
    """Thread assignment for a page; new threads get ids in one flush."""

    def __init__(
        self, session: Session, *, tenant_id: int, account_id: int, messages: list[ParsedMessage]
    ) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.account_id = account_id
        keys = [k for p in messages for k in p.thread_ids]
        known = threads.threads_for_keys(session, account_id=account_id, keys=keys)
        loaded = {
            t.id: t
            for part in chunks(sorted(set(known.values())))
            for t in session.scalars(select(InboxThread).where(InboxThread.id.in_(part)))
        }
        self.by_key: dict[str, InboxThread] = {k: loaded[t] for k, t in known.items()}
        self.stored_keys = set(known)
        self.existing: set[int] = set(loaded)
        unknown = [k for k in dict.fromkeys(keys) if k not in known]
        self.emails: dict[str, Email] = {}
        for part in chunks(unknown):
            stmt = select(Email).where(Email.tenant_id == tenant_id, Email.message_id.in_(part))
            for email in session.scalars(stmt):
                self.emails.setdefault(email.message_id, email)
        self.outbound: list[tuple[Email, InboxThread]] = []
        self.thread_ids = allocate_ids(session, InboxThread, len(messages))

    def _new_thread(self, p: ParsedMessage, when: datetime) -> InboxThread:
        thread = InboxThread(
            id=self.thread_ids.pop(0),
            tenant_id=self.tenant_id,
            account_id=self.account_id,
            subject=p.subject,
            subject_key=threads.subject_key(p.subject),
            snippet="",
            participants=[],
            first_message_at=when,
            last_message_at=when,
            message_count=0,
            unread_count=0,
            has_attachments=False,
        )
        self.session.add(thread)
        return thread

    def assign(self, p: ParsedMessage, when: datetime, addresses: set[str]) -> InboxThread:
        ids = p.thread_ids
        found = list({id(t): t for t in (self.by_key[k] for k in ids if k in self.by_key)}.values())
        if len(found) > 1:
            thread = self._merge(found)
        elif found:
            thread = found[0]
        else:
            sent = [self.emails[k] for k in ids if k in self.emails]
            by_subject = None
            if not sent and threads.is_reply_subject(p.subject):
                by_subject = threads.by_subject(
                    self.session,
                    account_id=self.account_id,
                    key=threads.subject_key(p.subject),
                    when=when,
                    addresses=addresses,
                )
                if by_subject is not None:
                    self.existing.add(by_subject.id)
            thread = by_subject or self._new_thread(p, when)
            for email in sent:
                self.outbound.append((email, thread))
                self.by_key[email.message_id] = thread
        for key in ids:
            self.by_key.setdefault(key, thread)
        return thread

    def _merge(self, found: list[InboxThread]) -> InboxThread:
        self.session.flush()
        into = min(found, key=lambda t: t.id)
        others = [t for t in found if t is not into]
        threads.merge(self.session, into=into.id, others=[t.id for t in others])
        for thread in others:
            self.session.expunge(thread)
            self.existing.discard(thread.id)
        self.session.refresh(into)
        self.existing.add(into.id)
        for key, thread in list(self.by_key.items()):
            if thread in others:
                self.by_key[key] = into
        return into
