"""WhatsApp in a real browser (Debian's headless Chromium, pt-BR): an admin connects a number
and registers a template through the forms, then finds a lead's dispatch and appointment on
its timeline and opens the dispatch; axe-core on every page and no script error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from test_browser_appointments import accessible, enter_as, script_errors  # noqa: F401
from webkit import LiveServer, Made

from carteiro.appointments import service as appointments
from carteiro.appointments.schemas import AgendamentoCreate
from carteiro.db.types import utcnow
from carteiro.dispatches import service as dispatches
from carteiro.leads.models import Lead, LeadTelefone
from carteiro.tenancy.service import Principal

pytestmark = pytest.mark.web


def _lead(server: LiveServer, principal: Principal) -> int:
    with server.runtime.db.session() as session:
        lead = Lead(tenant_id=principal.tenant_id, lead_id_externo="w-1", nome="Oficina Central")
        session.add(lead)
        session.flush()
        session.add(
            LeadTelefone(
                lead_id=lead.lead_id,
                tenant_id=principal.tenant_id,
                telefone="+5511987654321",
                tipo="mobile",
                telefone_principal=True,
            )
        )
        return lead.lead_id


def _dispatch_and_appointment(
    server: LiveServer, principal: Principal, lead_id: int
) -> tuple[int, int]:
    rt = server.runtime
    with rt.db.session() as session:
        d = dispatches.create(
            session,
            principal=principal,
            lead_id=lead_id,
            canal="whatsapp",
            template="lembrete_pagamento",
            variaveis={"nome": "João", "valor": "R$ 99,90"},
            agendar_para=utcnow() + timedelta(days=1),
        )
        ag, _ = appointments.create(
            session,
            principal=principal,
            lead_id=lead_id,
            data=AgendamentoCreate(
                tipo="reuniao",
                canal="video",
                data_agendada=utcnow() + timedelta(days=3),
                enviar_convite=False,
            ),
            settings=rt.settings,
        )
        return d.disparo_id, ag.agendamento_id


def test_connect_a_number_register_a_template_and_follow_a_lead(
    page: Page,
    live_server: LiveServer,
    principal: Principal,
    make_user: Callable[..., Made],
    script_errors: list[str],  # noqa: F811
) -> None:
    lead_id = _lead(live_server, principal)
    enter_as(page, live_server, make_user("admin@example.com", "admin"), principal.tenant_id)
    page.goto(f"{live_server.url}/ui/disparos")
    page.get_by_role("link", name="WhatsApp", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Números de WhatsApp")
    expect(page.get_by_text("Nenhum número de WhatsApp ainda.")).to_be_visible()
    accessible(page)

    page.get_by_role("link", name="Adicionar um número").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Adicionar um número de WhatsApp")
    accessible(page)
    page.get_by_label("Nome (para você)").fill("cobranca")
    page.get_by_label("ID do número de telefone").fill("1122334455")
    page.get_by_label("Token de acesso (ou apikey da Evolution)").fill("wa-token")
    page.get_by_label("Chave secreta do app").fill("app-secret")
    # Left without its verify token, the form says which field and keeps what was typed.
    page.get_by_role("button", name="Salvar").click()
    expect(page.locator('[data-error-field="verify_token"]')).to_be_visible()
    expect(page.get_by_label("ID do número de telefone")).to_have_value("1122334455")
    accessible(page)
    page.get_by_label("Token de acesso (ou apikey da Evolution)").fill("wa-token")
    page.get_by_label("Chave secreta do app").fill("app-secret")
    page.get_by_label("Token de verificação").fill("verify-me")
    page.get_by_label("Mensagens por segundo").fill("20")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("status")).to_contain_text("O número foi adicionado.")
    row = page.locator('tr[data-number="cobranca"]')
    expect(row.locator("[data-state]")).to_have_text("ativo")
    expect(row.locator("[data-breaker]")).to_have_text("fechado: enviando")
    expect(row.locator("[data-rate]")).to_contain_text("20 por segundo")
    expect(page.get_by_text("wa-token")).to_have_count(0)
    accessible(page)

    page.get_by_role("link", name="Modelos", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Modelos de WhatsApp")
    page.get_by_role("link", name="Cadastrar um modelo").first.click()
    accessible(page)
    page.get_by_label("Nome como aprovado pela Meta").fill("lembrete_pagamento")
    page.get_by_label("Variáveis, na ordem do corpo").fill("nome, valor")
    page.get_by_label("Texto aprovado (opcional)").fill("Olá {{nome}}, seu boleto de {{valor}}.")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("status")).to_contain_text("O modelo foi cadastrado")
    expect(page.locator('tr[data-template="lembrete_pagamento"] [data-params]')).to_contain_text(
        "nome, valor"
    )
    accessible(page)

    disparo_id, agendamento_id = _dispatch_and_appointment(live_server, principal, lead_id)
    page.goto(f"{live_server.url}/ui/leads/{lead_id}")
    timeline = page.locator("#lead-timeline")
    entries = timeline.locator("[data-kind]")
    expect(entries).to_have_count(2)
    # Latest first: the meeting in three days, then the dispatch due tomorrow.
    expect(entries.nth(0)).to_have_attribute("data-appointment", str(agendamento_id))
    expect(entries.nth(0)).to_contain_text("videochamada")
    expect(entries.nth(0)).to_contain_text("Lembretes:")
    expect(entries.nth(1)).to_have_attribute("data-disparo", str(disparo_id))
    expect(entries.nth(1)).to_contain_text("lembrete_pagamento")
    expect(entries.nth(1)).to_contain_text("tentativas 0 de 3")
    accessible(page)

    timeline.get_by_role("link", name=f"Disparo nº {disparo_id}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Disparo nº {disparo_id}")
    expect(page.locator('[data-event="criado"]')).to_have_count(1)
    accessible(page)
    assert script_errors == []
