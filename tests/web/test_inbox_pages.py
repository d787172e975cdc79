"""The inbox and compose pages over HTTP: pages, fragments, the message frame, actions, roles."""

# ruff: noqa: F811  (the fixtures are imported by name)

from __future__ import annotations

import re
from collections.abc import Callable

from inbox_fixtures import (  # noqa: F401  (fixtures)
    PersonFactory,
    add_account,
    build_mail,
    dovecot,
    imap_account,
    person_client,
    sync,
)
from sqlalchemy import select

from carteiro.inbound import rules
from carteiro.inbound.models import InboxMessage, InboxThread
from carteiro.inbound.schemas import RuleCreate
from carteiro.outbound import service as outbound
from carteiro.responder.worker import Responder
from carteiro.runtime import Runtime
from carteiro.tenancy import audit
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from carteiro.testing.fake_llm import FakeReplyModel
from carteiro.testing.smtp_server import SmtpSink

TRACKER = '<p>Veja a proposta</p><img src="https://tracker.example/pixel.gif" alt="">'


def _seed(dovecot: Dovecot, sync: Callable[[], object]) -> None:
    dovecot.append(
        "INBOX", build_mail(subject="Proposta comercial", html=TRACKER, message_id="<p1@c>")
    )
    dovecot.append("INBOX", build_mail(subject="Boleto vencido", sender="banco@example.net"))
    sync()


def _thread(runtime: Runtime, subject: str, account_id: int | None = None) -> tuple[int, int]:
    """(thread id, newest message id)."""
    with runtime.db.session() as session:
        stmt = select(InboxThread).where(InboxThread.subject == subject)
        if account_id is not None:
            stmt = stmt.where(InboxThread.account_id == account_id)
        thread = session.scalars(stmt).first()
        assert thread is not None
        message = session.scalars(
            select(InboxMessage.id)
            .where(InboxMessage.thread_id == thread.id)
            .order_by(InboxMessage.id.desc())
        ).first()
        return thread.id, int(message or 0)


def _server_flags(dovecot: Dovecot) -> list[str]:
    with dovecot.client() as conn:
        conn.select("INBOX", readonly=True)
        _, data = conn.fetch("1:*", "(FLAGS)")
    return [d.decode() for d in data if isinstance(d, bytes)]


def test_page_pane_and_frame(
    runtime: Runtime,
    dovecot: Dovecot,
    sync: Callable[[], object],
    person_client: PersonFactory,
    imap_account: int,
) -> None:
    _seed(dovecot, sync)
    web = person_client("operator", grants=(imap_account,))
    page = web.get("/ui/inbox")
    assert page.status_code == 200, page.text
    assert page.text.count("<h1") == 1
    assert "Proposta comercial" in page.text and "Boleto vencido" in page.text
    assert 'id="thread-list"' in page.text and 'id="folder-nav"' in page.text
    assert "Caixa de entrada" in page.text

    thread_id, message_id = _thread(runtime, "Proposta comercial")
    pane = web.get(f"/ui/inbox/pane/{thread_id}")
    assert pane.status_code == 200
    assert "<html" not in pane.text and "<h1" not in pane.text
    assert "Proposta comercial" in pane.text
    assert f'src="/ui/inbox/frame/{message_id}"' in pane.text
    assert 'sandbox="' in pane.text and "allow-scripts" not in pane.text
    assert "Mostrar imagens" in pane.text

    full = web.get(f"/ui/inbox?thread={thread_id}")
    assert full.text.count("<h1") == 1 and 'id="pane-heading"' in full.text

    frame = web.get(f"/ui/inbox/frame/{message_id}")
    assert frame.status_code == 200
    assert "tracker.example" not in frame.text and "Veja a proposta" in frame.text
    csp = frame.headers["content-security-policy"]
    assert "https:" not in csp and "script-src" not in csp and "default-src 'none'" in csp
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    shown = web.get(f"/ui/inbox/frame/{message_id}?images=true")
    assert "https://tracker.example/pixel.gif" in shown.text
    assert "https:" in shown.headers["content-security-policy"]

    with runtime.db.session() as session:
        entries, _ = audit.list_(
            session, tenant_id=1, filter=audit.AuditFilter(), limit=50, offset=0
        )
    actions = [e.action for e in entries]
    assert "mailbox_open" in actions and "message_read" in actions


def test_filters_stay_in_the_url_and_bad_ones_name_the_field(
    runtime: Runtime, dovecot: Dovecot, sync: Callable[[], object], person_client: PersonFactory
) -> None:
    _seed(dovecot, sync)
    web = person_client("viewer", grants=())
    # A viewer without grants sees no mailbox at all.
    assert "Proposta comercial" not in web.get("/ui/inbox").text
    admin = person_client("admin")
    found = admin.get("/ui/inbox", params={"q": "boleto"})
    assert "Boleto vencido" in found.text and "Proposta comercial" not in found.text
    thread_id, _ = _thread(runtime, "Boleto vencido")
    assert f"q=boleto&amp;thread={thread_id}" in found.text
    bad = admin.get("/ui/inbox", params={"since": "ontem"})
    assert bad.status_code == 422 and "since" in bad.text
    assert admin.get("/ui/inbox", params={"cursor": "x"}).status_code == 422


def test_pane_actions_reach_dovecot_and_update_the_lists(
    runtime: Runtime,
    dovecot: Dovecot,
    sync: Callable[[], object],
    person_client: PersonFactory,
    imap_account: int,
) -> None:
    _seed(dovecot, sync)
    web = person_client("operator", grants=(imap_account,))
    thread_id, _ = _thread(runtime, "Proposta comercial")
    read = web.post(
        f"/ui/inbox/pane/{thread_id}/actions", data={"action": "read", "list": "unread=1"}
    )
    assert read.status_code == 200, read.text
    assert "<html" not in read.text
    assert 'id="thread-list" hx-swap-oob="true"' in read.text
    assert 'id="folder-nav" hx-swap-oob="true"' in read.text
    # The list keeps its filter (unread): the thread just read left it.
    list_part = read.text.split('id="thread-list"', 1)[1]
    assert "Proposta comercial" not in list_part and "Boleto vencido" in list_part
    assert sum("\\Seen" in line for line in _server_flags(dovecot)) == 1

    archived = web.post(
        f"/ui/inbox/pane/{thread_id}/actions", data={"action": "archive", "list": ""}
    )
    assert archived.status_code == 200
    assert "Conversa arquivada." in archived.text
    assert len(_server_flags(dovecot)) == 1
    assert len(dovecot.uids("Archive")) == 1

    missing = web.post("/ui/inbox/pane/999999/actions", data={"action": "read"})
    assert missing.status_code == 200 and 'role="alert"' in missing.text
    wrong = web.post(f"/ui/inbox/pane/{thread_id}/actions", data={"action": "explode"})
    assert 'role="alert"' in wrong.text and "action" in wrong.text

    # Without JavaScript: the same action, then back to the inbox.
    other, _ = _thread(runtime, "Boleto vencido")
    plain = web.post(f"/ui/inbox/threads/{other}/actions", data={"action": "flag"})
    assert plain.status_code == 303 and f"thread={other}" in plain.headers["location"]
    assert any("\\Flagged" in line for line in _server_flags(dovecot))


def test_opening_a_thread_marks_it_read_on_the_server(
    runtime: Runtime,
    dovecot: Dovecot,
    sync: Callable[[], object],
    person_client: PersonFactory,
    imap_account: int,
) -> None:
    _seed(dovecot, sync)
    proposal, _ = _thread(runtime, "Proposta comercial")
    boleto, _ = _thread(runtime, "Boleto vencido")
    # A viewer reads without changing the mailbox.
    viewer = person_client("viewer", grants=(imap_account,), email="v@example.com")
    assert viewer.get(f"/ui/inbox/pane/{proposal}").status_code == 200
    assert not any("\\Seen" in line for line in _server_flags(dovecot))

    operator = person_client("operator", grants=(imap_account,))
    assert operator.get(f"/ui/inbox/pane/{proposal}").status_code == 200
    assert sum("\\Seen" in line for line in _server_flags(dovecot)) == 1
    with runtime.db.session() as session:
        thread = session.get(InboxThread, proposal)
        assert thread is not None and thread.unread_count == 0
        messages = session.scalars(select(InboxMessage).where(InboxMessage.thread_id == proposal))
        assert all(m.seen for m in messages)
    # The whole page with a thread open does the same; the unread filter no longer lists it.
    assert operator.get("/ui/inbox", params={"thread": boleto}).status_code == 200
    assert sum("\\Seen" in line for line in _server_flags(dovecot)) == 2
    unread = operator.get("/ui/inbox", params={"unread": "1"}).text
    assert f'data-thread="{proposal}"' not in unread and f'data-thread="{boleto}"' not in unread


def test_the_bulk_bar_acts_on_the_selected_conversations(
    runtime: Runtime,
    dovecot: Dovecot,
    sync: Callable[[], object],
    person_client: PersonFactory,
    imap_account: int,
) -> None:
    _seed(dovecot, sync)
    proposal, _ = _thread(runtime, "Proposta comercial")
    boleto, _ = _thread(runtime, "Boleto vencido")
    web = person_client("operator", grants=(imap_account,))
    page = web.get("/ui/inbox", params={"unread": "1"}).text
    assert 'id="bulk-actions"' in page and 'action="/ui/inbox/actions"' in page
    assert page.count('form="bulk-actions" name="thread_ids"') == 2

    read = web.post(
        "/ui/inbox/actions",
        data={"action": "read", "thread_ids": [str(proposal), str(boleto)], "list": "unread=1"},
        follow_redirects=False,
    )
    assert read.status_code == 303 and read.headers["location"] == "/ui/inbox?unread=1&bulk=read"
    assert sum("\\Seen" in line for line in _server_flags(dovecot)) == 2
    after = web.get(read.headers["location"]).text
    assert "As conversas selecionadas foram marcadas como lidas." in after
    assert f'data-thread="{proposal}"' not in after and f'data-thread="{boleto}"' not in after

    nothing = web.post("/ui/inbox/actions", data={"action": "archive"}, follow_redirects=False)
    assert nothing.headers["location"] == "/ui/inbox?bulk=none"
    assert "Selecione pelo menos uma conversa antes." in web.get(nothing.headers["location"]).text
    bad = web.post("/ui/inbox/actions", data={"action": "explode", "thread_ids": [str(boleto)]})
    assert bad.status_code == 422 and "action" in bad.text

    viewer = person_client("viewer", grants=(imap_account,), email="v@example.com")
    listing = viewer.get("/ui/inbox").text
    assert f'data-thread="{boleto}"' in listing and 'id="bulk-actions"' not in listing
    refused = viewer.post("/ui/inbox/actions", data={"action": "unread", "thread_ids": [boleto]})
    assert refused.status_code == 403

    archived = web.post(
        "/ui/inbox/actions",
        data={"action": "archive", "thread_ids": [str(proposal), str(boleto)]},
        follow_redirects=False,
    )
    assert archived.status_code == 303
    assert len(dovecot.uids("Archive")) == 2 and not dovecot.uids("INBOX")


def test_viewers_read_but_cannot_act_or_send(
    runtime: Runtime,
    dovecot: Dovecot,
    sync: Callable[[], object],
    person_client: PersonFactory,
    imap_account: int,
) -> None:
    _seed(dovecot, sync)
    viewer = person_client("viewer", grants=(imap_account,))
    thread_id, message_id = _thread(runtime, "Proposta comercial")
    pane = viewer.get(f"/ui/inbox/pane/{thread_id}")
    assert pane.status_code == 200 and "Proposta comercial" in pane.text
    assert "/actions" not in pane.text and "/ui/compose" not in pane.text
    refused = viewer.post(f"/ui/inbox/pane/{thread_id}/actions", data={"action": "archive"})
    assert refused.status_code == 403
    assert len(_server_flags(dovecot)) == 2
    assert viewer.get("/ui/compose").status_code == 403
    sent = viewer.post(
        "/ui/compose",
        data={"account": str(imap_account), "to": "x@example.org", "subject": "s", "body": "b"},
    )
    assert sent.status_code == 403
    with runtime.db.session() as session:
        from carteiro.outbound.models import Email

        assert session.scalars(select(Email)).first() is None  # nothing was queued
    assert viewer.get(f"/ui/inbox/frame/{message_id}").status_code == 200


def test_a_person_sees_only_the_granted_mailboxes(
    runtime: Runtime,
    principal: Principal,
    sink: SmtpSink,
    dovecot: Dovecot,
    sync: Callable[[], object],
    imap_account: int,
    person_client: PersonFactory,
) -> None:
    from carteiro.inbound.worker import sync_account_blocking

    _seed(dovecot, sync)
    other = add_account(runtime, principal, sink, dovecot, name="outra")
    sync_account_blocking(runtime, account_id=other)
    mine, _ = _thread(runtime, "Proposta comercial", imap_account)
    theirs, their_message = _thread(runtime, "Proposta comercial", other)
    web = person_client("operator", grants=(imap_account,))
    page = web.get("/ui/inbox")
    # One row for the one thread with this subject (its checkbox is labelled by it).
    assert page.text.count("Selecionar a conversa Proposta comercial") == 1
    assert f'data-thread="{mine}"' in page.text and f'data-thread="{theirs}"' not in page.text
    assert "outra" not in page.text
    assert web.get(f"/ui/inbox/pane/{theirs}").status_code == 404
    assert web.get(f"/ui/inbox/frame/{their_message}").status_code == 404
    hidden = web.post(f"/ui/inbox/pane/{theirs}/actions", data={"action": "read"})
    assert 'role="alert"' in hidden.text
    assert web.get(f"/ui/compose?reply_to={their_message}").status_code == 404
    sent = web.post(
        "/ui/compose",
        data={"account": str(other), "to": "x@example.org", "subject": "s", "body": "b"},
    )
    assert sent.status_code == 422 and "account" in sent.text


def test_compose_new_and_reply(
    runtime: Runtime,
    principal: Principal,
    dovecot: Dovecot,
    sync: Callable[[], object],
    person_client: PersonFactory,
    imap_account: int,
) -> None:
    _seed(dovecot, sync)
    web = person_client("operator", grants=(imap_account,))
    form = web.get("/ui/compose")
    assert form.status_code == 200 and form.text.count("<h1") == 1
    bad = web.post(
        "/ui/compose",
        data={"account": str(imap_account), "to": "não é endereço", "subject": "s", "body": "b"},
    )
    assert bad.status_code == 422, bad.text[-3000:]
    assert 'id="compose-error"' in bad.text, bad.text[-3000:]
    assert "is-invalid" in bad.text
    ok = web.post(
        "/ui/compose",
        data={
            "account": str(imap_account),
            "to": "cliente@example.org",
            "subject": "Orçamento",
            "body": "Segue o orçamento.",
            "html": "<p>Segue <b>o</b> orçamento<script>x()</script></p>",
            "send_at": "2030-01-31T09:00",
        },
        files=[("attachments", ("orcamento.txt", b"R$ 100", "text/plain"))],
    )
    assert ok.status_code == 303, ok.text
    email_id = int(re.search(r"sent=(\d+)", ok.headers["location"]).group(1))  # type: ignore[union-attr]
    with runtime.db.session() as session:
        email = outbound.get_or_raise(session, principal=principal, email_id=email_id)
        assert email.subject == "Orçamento" and "<script" not in (email.html_body or "")
        assert (
            email.scheduled_at is not None and email.scheduled_at.hour == 12
        )  # 09:00 in São Paulo
        raw = outbound.raw_bytes(session, email, settings=runtime.settings)
    assert b"orcamento.txt" in raw

    thread_id, message_id = _thread(runtime, "Proposta comercial")
    prefilled = web.get(f"/ui/compose?reply_to={message_id}&mode=reply")
    assert "Re: Proposta comercial" in prefilled.text and "ana@cliente.com.br" in prefilled.text
    replied = web.post(
        "/ui/compose",
        data={
            "reply_to": str(message_id),
            "mode": "reply",
            "to": "ana@cliente.com.br",
            "subject": "Re: Proposta comercial",
            "body": "Obrigado!",
        },
    )
    assert replied.status_code == 303, replied.text
    assert replied.headers["location"] == f"/ui/inbox?thread={thread_id}"
    with runtime.db.session() as session:
        entries, _ = audit.list_(
            session,
            tenant_id=principal.tenant_id,
            filter=audit.AuditFilter(action="send"),
            limit=10,
            offset=0,
        )
        assert len(entries) == 2
        from carteiro.outbound.models import Email

        reply = session.scalars(select(Email).order_by(Email.id.desc())).first()
        assert reply is not None
        raw = outbound.raw_bytes(session, reply, settings=runtime.settings)
    assert b"In-Reply-To: <p1@c>" in raw and b"References: <p1@c>" in raw


async def test_the_ai_suggested_reply_shows_under_its_message(
    runtime: Runtime,
    principal: Principal,
    dovecot: Dovecot,
    sync: Callable[[], object],
    person_client: PersonFactory,
    imap_account: int,
) -> None:
    with runtime.db.session() as session:
        rules.create(
            session,
            principal=principal,
            data=RuleCreate(
                name="IA", responder="ai", classify=True, match={"subject": "Proposta"}
            ),
        )
    _seed(dovecot, sync)
    thread_id, _ = _thread(runtime, "Proposta comercial")
    web = person_client("operator", grants=(imap_account,))
    drafting = web.get(f"/ui/inbox/pane/{thread_id}").text
    assert 'data-suggestion="pending"' in drafting and "O modelo está redigindo" in drafting

    reply = "Olá! Segue a proposta <revisada> em anexo.\nAbraços"
    reading = {"intent": "quote_request", "urgency": "normal", "language": "pt-BR"}
    await Responder(runtime, FakeReplyModel(reply=reply, classification=reading)).run_once()
    pane = web.get(f"/ui/inbox/pane/{thread_id}").text
    assert 'data-suggestion="completed"' in pane and "Resposta sugerida (IA)" in pane
    assert "Segue a proposta &lt;revisada&gt; em anexo.\nAbraços" in pane
    assert "Aguardando aprovação: revise na caixa de saída" in pane
    assert "Intenção: quote_request · urgência: normal · idioma: pt-BR" in pane
    other, _ = _thread(runtime, "Boleto vencido")
    assert "data-suggestion" not in web.get(f"/ui/inbox/pane/{other}").text
