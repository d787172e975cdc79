"""Threading across inbound and outbound mail, out of order, merged, and by subject."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from carteiro.inbound.models import InboxMessage, InboxThread
from carteiro.inbound.schemas import SyncReport
from carteiro.inbound.threads import strip_prefixes, subject_key
from carteiro.outbound import service as outbound
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from conftest import MailFactory


def _by_subject(runtime: Runtime) -> dict[str, InboxMessage]:
    with runtime.db.session() as session:
        return {m.subject: m for m in session.scalars(select(InboxMessage))}


def _thread(runtime: Runtime, thread_id: int) -> InboxThread:
    with runtime.db.session() as session:
        thread = session.get(InboxThread, thread_id)
        assert thread is not None
        return thread


def test_subject_prefixes_in_several_languages() -> None:
    assert strip_prefixes("RES: ENC: Re: Fwd: Proposta") == "Proposta"
    assert strip_prefixes("AW: WG: [lista] Re[2]: Angebot") == "Angebot"
    assert strip_prefixes("Resultado: aprovado") == "Resultado: aprovado"
    assert subject_key("Re:  PROPOSTA   comercial") == "proposta comercial"


def test_replies_join_by_in_reply_to_and_references_even_out_of_order(
    runtime: Runtime, dovecot: Dovecot, sync: Callable[[], SyncReport], mail: MailFactory
) -> None:
    dovecot.append("INBOX", mail(subject="Proposta", message_id="<a@x>"))
    dovecot.append("INBOX", mail(subject="Re: Proposta", message_id="<b@x>", in_reply_to="<a@x>"))
    # The grandchild arrives before its parent <c@x> (another folder, synced in another page).
    dovecot.append(
        "Archive",
        mail(subject="Re: Re: Proposta", message_id="<d@x>", references="<a@x> <b@x> <c@x>"),
    )
    sync()
    dovecot.append("INBOX", mail(subject="Re: Proposta", message_id="<c@x>", references="<b@x>"))
    sync()
    rows = _by_subject(runtime)
    with runtime.db.session() as session:
        thread_ids = set(session.scalars(select(InboxMessage.thread_id)))
    assert len(thread_ids) == 1
    thread = _thread(runtime, thread_ids.pop())
    assert thread.message_count == 4
    assert thread.unread_count == 4
    assert thread.subject == "Proposta"
    assert rows["Re: Re: Proposta"].reference_ids == ["<a@x>", "<b@x>", "<c@x>"]


def test_a_message_referencing_two_threads_merges_them(
    runtime: Runtime, dovecot: Dovecot, sync: Callable[[], SyncReport], mail: MailFactory
) -> None:
    dovecot.append("INBOX", mail(subject="Primeiro", message_id="<p1@x>"))
    dovecot.append("INBOX", mail(subject="Segundo", message_id="<p2@x>"))
    sync()
    with runtime.db.session() as session:
        assert session.scalar(select(func.count(InboxThread.id))) == 2
    dovecot.append(
        "INBOX", mail(subject="Re: ambos", message_id="<p3@x>", references="<p1@x> <p2@x>")
    )
    sync()
    with runtime.db.session() as session:
        threads = list(session.scalars(select(InboxThread)))
    assert len(threads) == 1
    assert threads[0].message_count == 3


def test_subject_fallback_needs_a_reply_prefix_and_a_shared_participant(
    runtime: Runtime, dovecot: Dovecot, sync: Callable[[], SyncReport], mail: MailFactory
) -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    dovecot.append("INBOX", mail(subject="Contrato anual", date=start))
    sync()
    # Outlook and webmails sometimes lose In-Reply-To/References entirely.
    dovecot.append("INBOX", mail(subject="RES: Contrato anual", date=start + timedelta(hours=1)))
    dovecot.append(
        "INBOX",
        mail(
            subject="Re: Contrato anual",
            sender="outra@empresa.com",
            date=start + timedelta(hours=2),
        ),
    )
    dovecot.append("INBOX", mail(subject="Contrato anual", date=start + timedelta(hours=3)))
    sync()
    with runtime.db.session() as session:
        rows = list(session.scalars(select(InboxMessage).order_by(InboxMessage.date)))
    original, reply, stranger, repeat = rows
    assert reply.thread_id == original.thread_id
    assert stranger.thread_id != original.thread_id
    assert repeat.thread_id != original.thread_id  # no Re: prefix: a new conversation


def test_our_outbound_message_joins_the_thread_of_its_reply(
    runtime: Runtime,
    principal: Principal,
    imap_account: int,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    with runtime.db.session() as session:
        email, _ = outbound.create(
            session,
            principal=principal,
            data=EmailCreate(
                to_email="cliente@example.org",
                subject="Sua proposta",
                body="Segue a proposta.",
                account=imap_account,
            ),
            settings=runtime.settings,
        )
        email_id, message_id = email.id, email.message_id
    dovecot.append(
        "INBOX",
        mail(
            subject="Re: Sua proposta",
            in_reply_to=message_id,
            references=message_id,
            date=datetime.now(UTC) + timedelta(minutes=1),
        ),
    )
    sync()
    with runtime.db.session() as session:
        rows = list(session.scalars(select(InboxMessage).order_by(InboxMessage.date)))
    assert [(m.direction, m.email_id) for m in rows] == [("out", email_id), ("in", None)]
    assert rows[0].thread_id == rows[1].thread_id
    assert rows[0].folder_id is None
    thread = _thread(runtime, rows[0].thread_id)
    assert thread.message_count == 2
    assert thread.unread_count == 1
    assert thread.subject == "Re: Sua proposta"


def test_sent_folder_copies_are_outgoing_and_thread_with_replies(
    runtime: Runtime, dovecot: Dovecot, sync: Callable[[], SyncReport], mail: MailFactory
) -> None:
    dovecot.append(
        "Sent",
        mail(
            subject="Visita",
            sender=f"Nós <{dovecot.user}>",
            to="cliente@example.org",
            message_id="<sent-1@example.com>",
        ),
        flags=["\\Seen"],
    )
    dovecot.append("INBOX", mail(subject="Re: Visita", in_reply_to="<sent-1@example.com>"))
    sync()
    rows = _by_subject(runtime)
    assert rows["Visita"].direction == "out"
    assert rows["Re: Visita"].direction == "in"
    assert rows["Visita"].thread_id == rows["Re: Visita"].thread_id
    assert _thread(runtime, rows["Visita"].thread_id).unread_count == 1


def test_participants_are_linked_to_leads_by_address(
    runtime: Runtime,
    principal: Principal,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    from carteiro.inbound import service
    from carteiro.inbound.models import InboxParticipant
    from carteiro.leads.models import Lead, LeadEmail

    with runtime.db.session() as session:
        lead = Lead(tenant_id=principal.tenant_id, lead_id_externo="L-1", nome="Ana")
        session.add(lead)
        session.flush()
        session.add(
            LeadEmail(
                lead_id=lead.lead_id, tenant_id=principal.tenant_id, email="ana@cliente.com.br"
            )
        )
        lead_id = lead.lead_id
    dovecot.append("INBOX", mail(subject="Oi", sender="Ana <ANA@Cliente.com.br>"))
    dovecot.append("INBOX", mail(subject="Outro", sender="bruno@cliente.com.br"))
    sync()
    rows = _by_subject(runtime)
    assert rows["Oi"].lead_id == lead_id
    assert rows["Outro"].lead_id is None
    assert _thread(runtime, rows["Oi"].thread_id).lead_id == lead_id
    with runtime.db.session() as session:
        linked = session.scalars(
            select(InboxParticipant.email).where(InboxParticipant.lead_id == lead_id)
        ).all()
        page = service.list_threads(session, tenant_id=principal.tenant_id, lead_id=lead_id)
    assert linked == ["ana@cliente.com.br"]
    assert [t.subject for t in page.items] == ["Oi"]
