"""Replies and forwards: threading headers as a mail client sees them, Sent copy, \\Answered."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from carteiro.errors import InvalidInput, NotFound
from carteiro.inbound.models import InboxMessage, InboxThread
from carteiro.inbound.replies import reply
from carteiro.inbound.schemas import ReplyCreate, ReplyResult, SyncReport
from carteiro.inbound.storage import BlobStore
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink
from conftest import MailFactory


def _inbound(runtime: Runtime, subject: str) -> InboxMessage:
    with runtime.db.session() as session:
        return session.scalars(select(InboxMessage).where(InboxMessage.subject == subject)).one()


def _reply(
    runtime: Runtime, principal: Principal, message_id: int, **fields: object
) -> ReplyResult:
    with runtime.db.session() as session:
        return reply(
            session,
            principal=principal,
            message_id=message_id,
            data=ReplyCreate(**fields),  # type: ignore[arg-type]
            settings=runtime.settings,
            store=BlobStore.for_data_dir(runtime.settings.data_dir),
        )


def _flags(dovecot: Dovecot, folder: str) -> dict[int, tuple[bytes, ...]]:
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False)
    try:
        client.login(dovecot.user, dovecot.password)
        client.select_folder(folder, readonly=True)
        return {
            uid: d[b"FLAGS"] for uid, d in client.fetch(client.search("ALL"), ["FLAGS"]).items()
        }
    finally:
        client.logout()


async def test_reply_is_threaded_in_the_recipients_client_and_copied_to_sent(
    runtime: Runtime,
    principal: Principal,
    dovecot: Dovecot,
    sink: SmtpSink,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    dovecot.append(
        "INBOX",
        mail(
            subject="Re: Orçamento de março",
            sender="Ana Souza <ana@cliente.com.br>",
            message_id="<second@cliente.com.br>",
            in_reply_to="<first@carteiro>",
            references="<root@cliente.com.br> <first@carteiro>",
            body="Pode enviar a proposta?\nObrigada",
        ),
    )
    sync()
    original = _inbound(runtime, "Re: Orçamento de março")
    result = _reply(runtime, principal, original.id, body="Claro, segue em anexo.")
    assert result.to == ["ana@cliente.com.br"]
    assert result.subject == "Re: Orçamento de março"  # no second "Re:"

    await run_dispatcher_until(runtime, lambda: email_status(runtime, result.email_id) == "sent")
    (got,) = sink.messages
    parsed = email.message_from_bytes(got.data, policy=email.policy.default)
    # What Thunderbird, Gmail and Outlook thread by.
    assert parsed["In-Reply-To"] == "<second@cliente.com.br>"
    assert parsed["References"].split() == [
        "<root@cliente.com.br>",
        "<first@carteiro>",
        "<second@cliente.com.br>",
    ]
    assert parsed["Subject"] == "Re: Orçamento de março"
    assert parsed["From"].addresses[0].addr_spec == dovecot.user
    assert got.rcpt_tos == ["ana@cliente.com.br"]
    text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Claro, segue em anexo.")
    # The original is in Portuguese, so is the attribution line.
    assert "Ana Souza <ana@cliente.com.br> escreveu:\n> Pode enviar a proposta?\n> Obrigada" in text
    assert "\nEm " in text

    report = sync()
    assert report.sent_copies == 1
    sent_uids = dovecot.uids("Sent")
    assert len(sent_uids) == 1
    assert b"\\Answered" in next(iter(_flags(dovecot, "INBOX").values()))
    with runtime.db.session() as session:
        rows = list(session.scalars(select(InboxMessage).order_by(InboxMessage.id)))
        # The Sent copy became the reply's row: no duplicate, now with a folder and a UID.
        assert len(rows) == 2
        ours = rows[1]
        assert (ours.direction, ours.email_id, ours.sent_copy) == ("out", result.email_id, "done")
        assert ours.uid == sent_uids[0] and ours.folder_id is not None
        assert ours.thread_id == rows[0].thread_id
        assert rows[0].answered
        thread = session.get(InboxThread, ours.thread_id)
        assert thread is not None and thread.message_count == 2
    assert sync().new == 0


def test_reply_all_leaves_out_our_own_addresses_and_keeps_cc(
    runtime: Runtime,
    principal: Principal,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    dovecot.append(
        "INBOX",
        mail(
            subject="Reunião",
            sender="ana@cliente.com.br",
            to=f"{dovecot.user}, bruno@cliente.com.br",
            headers={"Cc": "carla@cliente.com.br", "Reply-To": "equipe@cliente.com.br"},
        ),
    )
    sync()
    original = _inbound(runtime, "Reunião")
    result = _reply(runtime, principal, original.id, body="Confirmado.", mode="reply_all")
    assert result.to == ["equipe@cliente.com.br"]  # Reply-To wins over From
    assert result.cc == ["bruno@cliente.com.br", "carla@cliente.com.br"]


def test_forward_needs_recipients_and_carries_the_attachments(
    runtime: Runtime,
    principal: Principal,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
) -> None:
    raw = (
        b"From: ana@cliente.com.br\r\nTo: inbox@example.com\r\nSubject: Contrato\r\n"
        b"Message-ID: <contrato@cliente.com.br>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSegue o contrato.\r\n"
        b'--b\r\nContent-Type: application/pdf; name="contrato.pdf"\r\n'
        b"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQKJcTl8uXrCg==\r\n--b--\r\n"
    )
    dovecot.append("INBOX", raw)
    sync()
    original = _inbound(runtime, "Contrato")
    with pytest.raises(InvalidInput) as refused:
        _reply(runtime, principal, original.id, body="veja", mode="forward")
    assert refused.value.field == "to"
    result = _reply(
        runtime, principal, original.id, body="Para análise.", mode="forward", to="juridico@x.com"
    )
    assert result.subject == "Fwd: Contrato"
    with runtime.db.session() as session:
        from carteiro.outbound.models import Email

        sent = session.get(Email, result.email_id)
        assert sent is not None
        parsed = email.message_from_bytes(sent.raw, policy=email.policy.default)
    names = [part.get_filename() for part in parsed.iter_attachments()]
    assert names == ["contrato.pdf"]
    body = parsed.get_body(("plain",)).get_content()
    assert "---------- Forwarded message ----------" in body
    assert "Segue o contrato." in body


def test_reply_to_another_tenants_message_is_not_found(
    runtime: Runtime,
    principal: Principal,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    dovecot.append("INBOX", mail(subject="Privado"))
    sync()
    original = _inbound(runtime, "Privado")
    stranger = Principal(
        tenant_id=principal.tenant_id + 999, key_id=None, key_name="x", scopes=("*",)
    )
    with pytest.raises(NotFound):
        _reply(runtime, stranger, original.id, body="oi")


def test_replies_to_our_own_sent_message_go_to_its_recipients(
    runtime: Runtime,
    principal: Principal,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    dovecot.append(
        "Sent",
        mail(
            subject="Follow-up",
            sender=dovecot.user,
            to="lead@empresa.com",
            date=datetime.now(UTC) - timedelta(days=3),
        ),
    )
    sync()
    result = _reply(runtime, principal, _inbound(runtime, "Follow-up").id, body="Alguma novidade?")
    assert result.to == ["lead@empresa.com"]
