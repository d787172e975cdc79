"""The inbox and compose pages in a real browser, against Dovecot and the SMTP sink."""

# ruff: noqa: F811  (the fixtures are imported by name)
from __future__ import annotations

import asyncio
import email
import email.policy
import re
import threading
from collections.abc import Callable

import pytest
from inbox_fixtures import (  # noqa: F401  (fixtures)
    add_account,
    build_mail,
    dovecot,
    imap_account,
    sync,
)
from playwright.sync_api import Page, expect
from webkit import PASSWORD, LiveServer, Made, axe_violations

from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink

pytestmark = pytest.mark.web

TRACKER = '<p>Segue a proposta.</p><img src="https://tracker.example/o.gif" alt="">'


@pytest.fixture
def mailbox(dovecot: Dovecot, sync: Callable[[], object]) -> None:
    dovecot.append(
        "INBOX",
        build_mail(
            subject="Proposta comercial",
            html=TRACKER,
            body="Segue a proposta.",
            message_id="<p1@cliente.com.br>",
        ),
    )
    dovecot.append("INBOX", build_mail(subject="Boleto vencido", sender="banco@example.net"))
    sync()


def log_in(page: Page, server: LiveServer, made: Made) -> None:
    page.goto(f"{server.url}/ui/login")
    page.locator("#email").fill(made.email)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/ui/login'] button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/ui/login"))


def flags(dovecot: Dovecot, folder: str = "INBOX") -> list[str]:
    with dovecot.client() as conn:
        conn.select(folder, readonly=True)
        _, data = conn.fetch("1:*", "(FLAGS)")
    return [d.decode() for d in data if isinstance(d, bytes)]


def test_read_a_thread_and_reply(
    page: Page,
    live_server: LiveServer,
    runtime: Runtime,
    make_user: Callable[..., Made],
    imap_account: int,
    mailbox: None,
    sink: SmtpSink,
) -> None:
    log_in(page, live_server, make_user("ana@carteiro.example", grants=(imap_account,)))
    page.goto(f"{live_server.url}/ui/inbox")
    expect(page.get_by_role("heading", level=1)).to_have_text("Caixa de entrada")
    page.get_by_role("link", name=re.compile("Proposta comercial")).click()
    expect(page).to_have_url(re.compile(r"/ui/inbox\?thread=\d+$"))
    expect(page.locator("h1")).to_have_count(1)  # a fragment, not a page inside the page
    expect(page.locator("#pane-heading")).to_have_text("Proposta comercial")
    frame = page.frame_locator("iframe.message-frame").first
    expect(frame.get_by_text("Segue a proposta.")).to_be_visible()
    expect(frame.locator("img[src*='tracker.example']")).to_have_count(0)
    page.get_by_role("link", name="Mostrar imagens").click()
    expect(frame.locator("img[src*='tracker.example']")).to_have_count(1)

    page.get_by_role("link", name="Responder", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Responder")
    expect(page.locator("#c-subject")).to_have_value("Re: Proposta comercial")
    page.locator("#c-body").fill("Obrigado, Ana! Vamos fechar.")
    page.get_by_role("button", name="Enviar").click()
    expect(page).to_have_url(re.compile(r"/ui/inbox\?thread=\d+$"))

    from sqlalchemy import select

    from carteiro.outbound.models import Email

    with runtime.db.session() as session:
        email_id = session.scalars(select(Email.id)).one()

    def deliver() -> None:
        asyncio.run(
            run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
        )

    worker = threading.Thread(target=deliver)
    worker.start()
    worker.join(timeout=30)
    (got,) = sink.messages
    parsed = email.message_from_bytes(got.data, policy=email.policy.default)
    assert parsed["In-Reply-To"] == "<p1@cliente.com.br>"
    assert parsed["References"].split() == ["<p1@cliente.com.br>"]
    assert parsed["Subject"] == "Re: Proposta comercial"
    assert "Obrigado, Ana!" in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_mark_read_and_archive_reach_dovecot(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., Made],
    imap_account: int,
    mailbox: None,
    dovecot: Dovecot,
) -> None:
    log_in(page, live_server, make_user("bia@carteiro.example", grants=(imap_account,)))
    page.goto(f"{live_server.url}/ui/inbox")
    badge = page.locator("#folder-nav .badge").first
    expect(badge).to_contain_text("2")
    link = page.locator(".thread-link", has_text="Proposta comercial")
    expect(link).to_have_class(re.compile("fw-bold"))
    link.click()
    pane = page.locator("#message-pane")
    pane.get_by_role("button", name="Marcar como lida").click()
    expect(page.locator("#message-pane [role=status]")).to_have_text("Marcada como lida.")
    # Out of band: the thread list and the unread badge change with the pane.
    expect(page.locator(".thread-link", has_text="Proposta comercial")).not_to_have_class(
        re.compile("fw-bold")
    )
    expect(page.locator("#folder-nav .badge").first).to_contain_text("1")
    assert sum("\\Seen" in f for f in flags(dovecot)) == 1

    pane.get_by_role("button", name="Arquivar").click()
    expect(page.locator("#message-pane [role=status]")).to_have_text("Conversa arquivada.")
    expect(page.locator(".thread-link", has_text="Proposta comercial")).to_have_count(0)
    assert len(flags(dovecot)) == 1
    assert len(dovecot.uids("Archive")) == 1


def test_the_bulk_bar_archives_the_checked_conversations(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., Made],
    imap_account: int,
    mailbox: None,
    dovecot: Dovecot,
) -> None:
    log_in(page, live_server, make_user("bia@carteiro.example", grants=(imap_account,)))
    page.goto(f"{live_server.url}/ui/inbox")
    page.get_by_label("Selecionar a conversa Proposta comercial").check()
    page.get_by_label("Selecionar a conversa Boleto vencido").check()
    page.locator("#bulk-actions").get_by_role("button", name="Arquivar").click()
    expect(page.locator("#message-pane [role=status]")).to_have_text(
        "As conversas selecionadas foram arquivadas."
    )
    expect(page.locator(".thread-link")).to_have_count(0)
    assert len(dovecot.uids("Archive")) == 2
    assert not axe_violations(page)


def test_viewer_cannot_reply_or_send(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., Made],
    imap_account: int,
    mailbox: None,
) -> None:
    log_in(
        page, live_server, make_user("leitor@carteiro.example", "viewer", grants=(imap_account,))
    )
    page.goto(f"{live_server.url}/ui/inbox")
    page.get_by_role("link", name=re.compile("Proposta comercial")).click()
    expect(page.locator("#pane-heading")).to_have_text("Proposta comercial")
    expect(page.get_by_role("link", name="Responder", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Arquivar")).to_have_count(0)
    response = page.goto(f"{live_server.url}/ui/compose")
    assert response is not None and response.status == 403


def test_a_person_sees_only_the_granted_mailboxes(
    page: Page,
    live_server: LiveServer,
    runtime: Runtime,
    principal: Principal,
    sink: SmtpSink,
    dovecot: Dovecot,
    make_user: Callable[..., Made],
    imap_account: int,
    mailbox: None,
) -> None:
    from carteiro.inbound.worker import sync_account_blocking

    other = add_account(runtime, principal, sink, dovecot, name="financeiro")
    sync_account_blocking(runtime, account_id=other)
    log_in(page, live_server, make_user("caio@carteiro.example", grants=(other,)))
    page.goto(f"{live_server.url}/ui/inbox")
    expect(page.locator("#folder-nav h2")).to_have_text(["financeiro"])
    expect(page.locator(".thread-link")).to_have_count(2)
    page.goto(f"{live_server.url}/ui/compose")
    expect(page.locator("#c-account option")).to_have_count(1)
    expect(page.locator("#c-account option")).to_contain_text("financeiro")


def test_keyboard_phone_layout_and_accessibility(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., Made],
    imap_account: int,
    mailbox: None,
) -> None:
    log_in(page, live_server, make_user("duda@carteiro.example", grants=(imap_account,)))
    page.goto(f"{live_server.url}/ui/inbox")
    assert axe_violations(page) == []
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(r"thread=\d+"))
    expect(page.locator("#pane-heading")).to_be_visible()
    assert axe_violations(page) == []
    page.keyboard.press("/")
    expect(page.locator("#inbox-q")).to_be_focused()

    page.set_viewport_size({"width": 390, "height": 800})
    expect(page.locator(".inbox-threads")).to_be_hidden()
    page.get_by_role("link", name=re.compile("Voltar às conversas")).click()
    expect(page.locator(".inbox-threads")).to_be_visible()
    expect(page.locator(".inbox-pane")).to_be_hidden()

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/ui/compose")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nova mensagem")
    assert axe_violations(page) == []
