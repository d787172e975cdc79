"""Incremental IMAP sync against a real Dovecot: folders, pages, flags, deletions, UIDVALIDITY."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from carteiro.accounts import service as accounts_service
from carteiro.accounts.schemas import AccountUpdate
from carteiro.inbound import downloads
from carteiro.inbound.models import InboxFolder, InboxMessage, InboxRaw, InboxThread
from carteiro.inbound.schemas import SyncReport
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from conftest import MailFactory, imap_settings


def _folders(runtime: Runtime, account_id: int) -> dict[str, InboxFolder]:
    with runtime.db.session() as session:
        rows = session.scalars(select(InboxFolder).where(InboxFolder.account_id == account_id))
        return {f.name: f for f in rows}


def _messages(runtime: Runtime, folder: str) -> list[InboxMessage]:
    with runtime.db.session() as session:
        stmt = (
            select(InboxMessage)
            .join(InboxFolder, InboxFolder.id == InboxMessage.folder_id)
            .where(InboxFolder.name == folder)
            .order_by(InboxMessage.uid)
        )
        return list(session.scalars(stmt))


def test_folders_are_discovered_with_roles_and_decoded_names(
    runtime: Runtime,
    imap_account: int,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    dovecot.append("Projetos/Ação", mail(subject="pasta com acento"))
    sync()
    folders = _folders(runtime, imap_account)
    roles = {name: f.role for name, f in folders.items() if f.role}
    assert roles == {
        "INBOX": "inbox",
        "Sent": "sent",
        "Drafts": "drafts",
        "Junk": "junk",
        "Trash": "trash",
        "Archive": "archive",
    }
    # Modified UTF-7 on the wire ("A&AOcA4w-o"), decoded in the database.
    assert "Projetos/Ação" in folders
    assert folders["Projetos/Ação"].message_count == 1
    assert folders["Projetos"].selectable is False  # \Noselect parent
    assert [m.subject for m in _messages(runtime, "Projetos/Ação")] == ["pasta com acento"]


def test_first_sync_of_two_thousand_messages_in_pages_then_nothing_new(
    runtime: Runtime,
    principal: Principal,
    imap_account: int,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    with runtime.db.session() as session:
        accounts_service.update(
            session,
            tenant_id=principal.tenant_id,
            ref=imap_account,
            data=AccountUpdate(imap=imap_settings(dovecot, page_size=300)),
            vault=runtime.vault,
        )
    total = 2000
    body = "Gostaria de um orçamento para 40 cadeiras e 10 mesas. " * 20
    sent = [
        mail(subject=f"Pedido {i}", message_id=f"<pedido-{i}@example.org>", body=body)
        for i in range(total)
    ]
    mail_0 = sent[0]
    dovecot.append_many("INBOX", sent)
    first = sync()
    assert first.new == total
    inbox = _folders(runtime, imap_account)["INBOX"]
    assert inbox.message_count == total
    assert inbox.unread_count == total
    assert inbox.last_uid == max(dovecot.uids("INBOX"))
    with runtime.db.session() as session:
        distinct = session.scalar(select(func.count(func.distinct(InboxMessage.message_id))))
        threads = session.scalar(select(func.count(InboxThread.id)))
    assert distinct == total
    assert threads == total

    again = sync()
    assert (again.new, again.flags_changed, again.deleted) == (0, 0, 0)
    # The raw message is kept compressed and reads back byte for byte.
    first_row = _messages(runtime, "INBOX")[0]
    with runtime.db.session() as session:
        raw = downloads.raw_message(
            session,
            tenant_id=principal.tenant_id,
            message_id=first_row.id,
            settings=runtime.settings,
        )
        packed = session.get(InboxRaw, first_row.id)
        assert packed is not None and packed.size == len(raw) > len(packed.data)
    assert raw == mail_0


def test_new_mail_flag_changes_and_deletions_are_followed(
    runtime: Runtime, dovecot: Dovecot, sync: Callable[[], SyncReport], mail: MailFactory
) -> None:
    dovecot.append_many("INBOX", [mail(subject=f"m{i}") for i in range(5)])
    sync()
    uids = dovecot.uids("INBOX")

    dovecot.store("INBOX", uids[:2], "+FLAGS", ["\\Seen"])
    dovecot.store("INBOX", [uids[2]], "+FLAGS", ["\\Flagged", "\\Answered", "$Importante"])
    dovecot.expunge("INBOX", [uids[4]])
    dovecot.append("INBOX", mail(subject="m5"), flags=["\\Seen"])
    report = sync()

    assert report.new == 1
    assert report.flags_changed == 3
    assert report.deleted == 1
    rows = {m.subject: m for m in _messages(runtime, "INBOX")}
    assert set(rows) == {"m0", "m1", "m2", "m3", "m5"}
    assert rows["m0"].seen and rows["m1"].seen and rows["m5"].seen
    assert not rows["m3"].seen
    assert rows["m2"].flagged and rows["m2"].answered
    assert rows["m2"].keywords == ["$Importante"]
    inbox = _folders(runtime, rows["m0"].account_id)["INBOX"]
    assert (inbox.message_count, inbox.unread_count) == (5, 2)
    with runtime.db.session() as session:
        thread = session.get(InboxThread, rows["m3"].thread_id)
        assert thread is not None and thread.unread_count == 1
        # The expunged message's thread went with it.
        assert session.scalar(select(func.count(InboxThread.id))) == 5

    dovecot.store("INBOX", [uids[0]], "-FLAGS", ["\\Seen"])
    assert sync().flags_changed == 1
    assert not {m.subject: m for m in _messages(runtime, "INBOX")}["m0"].seen


def test_uidvalidity_change_resyncs_without_duplicates(
    runtime: Runtime, dovecot: Dovecot, sync: Callable[[], SyncReport], mail: MailFactory
) -> None:
    folder = "Clientes"
    dovecot.append_many(folder, [mail(subject=f"c{i}", message_id=f"<c{i}@x>") for i in range(6)])
    dovecot.append(folder, mail(subject="sem id", message_id=""))
    sync()
    before = {m.subject: m for m in _messages(runtime, folder)}
    old_validity = dovecot.uidvalidity(folder)

    held = dovecot.recreate(folder)
    # The same messages come back (in another order, one gone, one new) under new UIDs.
    kept = [raw for raw in held if b"<c2@x>" not in raw]
    dovecot.append_many(folder, [*reversed(kept), mail(subject="c-new", message_id="<cn@x>")])
    assert dovecot.uidvalidity(folder) != old_validity

    report = sync()
    part = next(p for p in report.folders if p.folder == folder)
    assert part.uidvalidity_reset
    after = {m.subject: m for m in _messages(runtime, folder)}
    assert sorted(after) == sorted([s for s in before if s != "c2"] + ["c-new"])
    assert len(_messages(runtime, folder)) == len(after)  # no duplicates
    # Messages matched by Message-ID keep their rows (and threads), with the new UIDs.
    for subject in ("c0", "c1", "c3"):
        assert after[subject].id == before[subject].id
    assert sorted(m.uid for m in after.values()) == dovecot.uids(folder)
    assert sync().new == 0


def test_a_folder_deleted_on_the_server_takes_its_messages_along(
    runtime: Runtime,
    imap_account: int,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    dovecot.append("Temporária", mail(subject="vai sumir"))
    sync()
    assert len(_messages(runtime, "Temporária")) == 1
    with dovecot.client() as conn:
        conn.delete('"Tempor&AOE-ria"')
    sync()
    assert _messages(runtime, "Temporária") == []
    assert _folders(runtime, imap_account)["Temporária"].present is False
