"""The outbox and accounts pages in a real browser: approving held mail, requeueing dead
letters with the confirmation, and axe-core on each page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Dialog, Page, expect
from webkit import PASSWORD, LiveServer, Made, axe_violations

from carteiro.outbound import service as outbound
from carteiro.outbound.models import Email
from carteiro.outbound.schemas import EmailCreate
from carteiro.tenancy.service import Principal

pytestmark = pytest.mark.web


def _log_in(page: Page, server: LiveServer, email: str) -> None:
    page.goto(f"{server.url}/ui/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Painel")


def _accessible(page: Page) -> None:
    expect(page.locator("h1")).to_have_count(1)
    problems = axe_violations(page)
    assert not problems, f"{page.url}:\n" + "\n".join(problems)


def _mail(
    server: LiveServer, principal: Principal, account: int, subject: str, **row: object
) -> int:
    rt = server.runtime
    with rt.db.session() as session:
        data = EmailCreate(
            to_email="ana@cliente.com.br", subject=subject, body="Olá", account=account
        )
        email, _ = outbound.create(session, principal=principal, data=data, settings=rt.settings)
        for k, v in row.items():
            setattr(email, k, v)
        return email.id


def _status(server: LiveServer, email_id: int) -> str:
    with server.runtime.db.session() as session:
        return session.get_one(Email, email_id).status


def test_held_mail_is_approved_and_dead_letters_requeued_in_the_browser(
    page: Page,
    live_server: LiveServer,
    principal: Principal,
    make_user: Callable[..., Made],
    make_account: Callable[[str], int],
) -> None:
    vendas = make_account("vendas")
    held = _mail(live_server, principal, vendas, "Proposta para aprovar", status="held")
    dead = _mail(
        live_server, principal, vendas, "Boleto que morreu", status="dead", error_type="auth"
    )
    make_user("op@example.com", "operator", name="Op", grants=(vendas,))
    _log_in(page, live_server, "op@example.com")
    page.get_by_role("link", name="Saída").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Saída")
    page.get_by_role("link", name="Aguardando aprovação").click()
    row = page.locator(f"tr[data-email='{held}']")
    expect(row).to_contain_text("Proposta para aprovar")
    row.get_by_role("button", name="Aprovar").click()
    expect(page.get_by_role("status")).to_contain_text("aprovada")
    assert _status(live_server, held) == "pending"
    page.get_by_role("link", name="Mensagens mortas").click()
    page.get_by_label(f"Escolher a mensagem {dead}").check()
    asked: list[str] = []

    def _accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", _accept)
    page.get_by_role("button", name="Reenfileirar as mensagens escolhidas").click()
    expect(page.get_by_role("status")).to_contain_text("1 mensagens voltaram para a fila")
    assert asked == ["Enviar de novo as mensagens escolhidas?"]
    assert _status(live_server, dead) == "pending"


def test_outbox_and_account_pages_pass_axe(
    page: Page,
    live_server: LiveServer,
    principal: Principal,
    make_user: Callable[..., Made],
    make_account: Callable[[str], int],
) -> None:
    vendas = make_account("vendas")
    sent = _mail(live_server, principal, vendas, "Enviada", status="sent")
    _mail(live_server, principal, vendas, "Retida", status="held")
    _mail(live_server, principal, vendas, "Morta", status="dead", error_type="timeout")
    make_user("ad@example.com", "admin", name="Ad")
    _log_in(page, live_server, "ad@example.com")
    for path in (
        "/ui/outbox",
        "/ui/outbox?status=sent&q=envi",
        "/ui/outbox?q=nada-assim",
        f"/ui/outbox/{sent}",
        "/ui/queue",
        "/ui/queue?tab=held",
        "/ui/accounts",
        f"/ui/accounts/{vendas}",
        f"/ui/accounts/{vendas}/edit",
        "/ui/accounts/new",
    ):
        page.goto(live_server.url + path)
        _accessible(page)
