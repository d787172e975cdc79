"""The campaign builder in a real browser: a person builds a campaign, watches the audience
count and the live preview follow what they type, sees the pre-flight check, schedules it and
lands on the live panel; axe-core finds nothing serious on the builder."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Dialog, Page, expect
from test_browser_outbox import _accessible, _log_in
from test_campaign_builder import _leads
from webkit import LiveServer, Made

from carteiro.campaigns.models import Campaign
from carteiro.tenancy.service import Principal

pytestmark = pytest.mark.web


def test_build_preview_lint_and_schedule(
    page: Page, live_server: LiveServer, principal: Principal, make_user: Callable[..., Made]
) -> None:
    rt = live_server.runtime
    _leads(rt, principal.tenant_id)
    operator = make_user("operadora@example.com", "operator")
    _log_in(page, live_server, operator.email)
    page.get_by_role("link", name="Campanhas").click()
    page.get_by_role("link", name="Nova campanha").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nova campanha")

    page.get_by_label("Nome da campanha").fill("Natal")
    page.get_by_label("Status do lead").fill("novo")
    expect(page.locator("[data-audience-count]")).to_have_attribute(
        "data-audience-count", "3", timeout=10_000
    )
    expect(page.locator("#audience-sample")).to_contain_text("c0@example.com")
    page.get_by_label("Status do lead").fill("perdido")
    expect(page.locator("[data-audience-count]")).to_have_attribute("data-audience-count", "0")
    page.get_by_label("Status do lead").fill("novo")

    page.get_by_role("textbox", name="Assunto", exact=True).fill("Feliz Natal, {{ nome }}")
    page.get_by_role("textbox", name="Corpo", exact=True).fill(
        "<p>Olá {{ nome }}, temos ofertas.</p>"
    )
    # The heading and the sandboxed frame follow the typing, for the audience's first lead.
    expect(page.locator("[data-preview-subject]")).to_contain_text(
        "Feliz Natal, Padaria Sol", timeout=10_000
    )
    frame = page.frame_locator("#preview-frame")
    expect(frame.locator("body")).to_contain_text("Olá Padaria Sol, temos ofertas.")
    assert page.locator("#preview-frame").get_attribute("sandbox") is not None
    _accessible(page)

    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator("#builder-notice")).to_have_text("Rascunho salvo.")
    # The body has no unsubscribe link: the check says so before anyone schedules.
    expect(page.locator('[data-lint-error="unsubscribe"]')).to_be_visible(timeout=10_000)
    _accessible(page)

    page.get_by_role("textbox", name="Corpo", exact=True).fill(
        '<p>Olá {{ nome }}</p><a href="{{ unsubscribe_url }}">sair</a>'
    )
    page.get_by_role("button", name="Salvar rascunho").click()
    expect(page.locator('[data-lint="ok"]')).to_be_visible(timeout=10_000)

    def accept(dialog: Dialog) -> None:
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Agendar", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Natal")
    expect(page.locator("#campaign-state")).to_contain_text("agendado")
    with rt.db.session() as session:
        (c,) = session.query(Campaign).all()
        assert c.status == "scheduled" and c.name == "Natal"
