"""Appointments in a real browser (Debian's headless Chromium, pt-BR): book a callback from the
lead's page, find it in the week calendar with its reminders, reschedule and cancel it; axe-core
on each page and no script error (strict CSP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from webkit import LiveServer, Made, axe_violations

from carteiro.leads.models import Lead, LeadEmail
from carteiro.tenancy import people, sessions
from carteiro.tenancy.service import Principal
from carteiro.web.deps import lifetime

pytestmark = pytest.mark.web


@pytest.fixture
def script_errors(page: Page) -> Iterator[list[str]]:
    found: list[str] = []

    def _seen(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            found.append(message.text)

    page.on("console", _seen)
    page.on("pageerror", lambda error: found.append(str(error)))
    yield found


def enter_as(page: Page, server: LiveServer, made: Made, tenant_id: int) -> None:
    rt = server.runtime
    with rt.db.session() as session:
        user = people.get_or_raise(session, tenant_id=tenant_id, user_id=made.id)
        _row, token = sessions.create(session, user=user, lifetime=lifetime(rt.settings))
    page.context.add_cookies([{"name": "carteiro_session", "value": token, "url": server.url}])


def accessible(page: Page) -> None:
    expect(page.locator("h1")).to_have_count(1)
    problems = axe_violations(page)
    assert not problems, f"{page.url}:\n" + "\n".join(problems)


def test_book_find_move_and_cancel_a_callback(
    page: Page,
    live_server: LiveServer,
    principal: Principal,
    make_user: Callable[..., Made],
    script_errors: list[str],
) -> None:
    with live_server.runtime.db.session() as session:
        lead = Lead(
            tenant_id=principal.tenant_id,
            lead_id_externo="b-1",
            nome="Mercado Boa Vista",
            contato_nome="Carla",
        )
        session.add(lead)
        session.flush()
        session.add(
            LeadEmail(
                lead_id=lead.lead_id,
                tenant_id=principal.tenant_id,
                email="carla@boavista.com.br",
                email_principal=True,
            )
        )
        lead_id = lead.lead_id
    enter_as(page, live_server, make_user("op@example.com", "operator"), principal.tenant_id)
    day = datetime.now(ZoneInfo("America/Sao_Paulo")).date() + timedelta(days=2)

    page.goto(f"{live_server.url}/ui/leads/{lead_id}")
    expect(page.get_by_text("Nenhum disparo ou agendamento com este lead ainda.")).to_be_visible()
    page.get_by_role("link", name="Agendar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Agendar")
    accessible(page)
    page.get_by_label("Tipo").select_option("callback")
    page.get_by_label("Canal").select_option("telefone")
    page.get_by_label("Dia", exact=True).fill(day.isoformat())
    page.get_by_label("Horário", exact=True).fill("15:45")
    page.get_by_label("Observações").fill("Negociar parcelas")
    page.get_by_role("button", name="Agendar", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Agendado: os lembretes estão programados.")
    expect(page.locator("#reminders tbody tr")).to_have_count(2)
    accessible(page)

    page.get_by_role("link", name="Agendamentos", exact=True).click()
    page.goto(f"{live_server.url}/ui/agendamentos?vista=semana&dia={day.isoformat()}")
    cell = page.locator(f'[data-day="{day.isoformat()}"]')
    expect(cell.get_by_role("link", name="15:45 Mercado Boa Vista")).to_be_visible()
    expect(cell.get_by_text("1440 min antes: a enviar")).to_be_visible()
    expect(page.get_by_text("Retorno a Carla marcado para")).to_be_visible()
    accessible(page)

    cell.get_by_role("link", name="15:45 Mercado Boa Vista").click()
    later = day + timedelta(days=1)
    page.locator("#move-data").fill(later.isoformat())
    page.locator("#move-hora").fill("11:00")
    page.get_by_role("button", name="Mover").click()
    expect(page.get_by_role("status")).to_have_text(
        "Remarcado: novos lembretes e um convite atualizado."
    )
    expect(page.locator('#reminders tr[data-reminder="cancelado"]')).to_have_count(2)
    page.get_by_label("Motivo do cancelamento").fill("cliente pagou")
    page.get_by_role("button", name="Cancelar o agendamento").click()
    expect(page.locator("#status")).to_have_text("cancelado")
    expect(page.locator("#cancel-form")).to_have_count(0)

    page.goto(f"{live_server.url}/ui/leads/{lead_id}")
    expect(page.locator("#lead-timeline [data-appointment]")).to_have_count(1)
    expect(page.locator("#lead-timeline [data-appointment]")).to_contain_text("cancelado")
    assert script_errors == []
