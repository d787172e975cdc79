"""Appointment pages over HTTP: booking from a lead's page, the week calendar with reminders,
reschedule, cancel (reason required) and outcome, callback notes, roles."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from leadsui import post

from carteiro.leads.models import Lead, LeadEmail
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

ZONE = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def lead_id(runtime: Runtime, principal: Principal) -> int:
    with runtime.db.session() as session:
        lead = Lead(
            tenant_id=principal.tenant_id,
            lead_id_externo="ext-1",
            nome="Padaria Pão Quente",
            contato_nome="Ana",
        )
        session.add(lead)
        session.flush()
        session.add(
            LeadEmail(
                lead_id=lead.lead_id,
                tenant_id=principal.tenant_id,
                email="ana@padaria.com.br",
                email_principal=True,
            )
        )
        return lead.lead_id


def next_week_day() -> date:
    return datetime.now(ZONE).date() + timedelta(days=3)


def book(client: TestClient, lead_id: int, **values: str) -> str:
    day = next_week_day().isoformat()
    data = {"lead_id": str(lead_id), "tipo": "callback", "canal": "telefone", "data": day}
    response = post(client, "/ui/agendamentos", {**data, "hora": "14:30", **values})
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def test_an_operator_books_from_the_lead_page_and_sees_it_in_the_calendar(
    as_user: Callable[..., TestClient], lead_id: int
) -> None:
    operator = as_user("operator")
    lead_page = operator.get(f"/ui/leads/{lead_id}")
    assert 'data-empty="timeline"' in lead_page.text
    assert f"/ui/agendamentos/novo?lead_id={lead_id}" in lead_page.text
    form = operator.get(f"/ui/agendamentos/novo?lead_id={lead_id}")
    assert form.status_code == 200 and "Com Padaria Pão Quente" in form.text

    location = book(operator, lead_id, observacoes="Ligar depois do almoço")
    assert re.fullmatch(r"/ui/agendamentos/\d+\?notice=created", location)
    detail = operator.get(location)
    assert "Agendado: os lembretes estão programados." in detail.text
    assert 'data-status="pendente"' in detail.text
    assert detail.text.count('data-reminder="agendado"') == 2
    assert "nota para o responsável" in detail.text

    day = next_week_day()
    week = operator.get(f"/ui/agendamentos?vista=semana&dia={day.isoformat()}")
    assert week.status_code == 200
    assert f'data-day="{day.isoformat()}"' in week.text
    section = week.text.split(f'data-day="{day.isoformat()}"')[1].split("</section>")[0]
    assert "14:30" in section and "Padaria Pão Quente" in section
    assert "1440 min antes: a enviar" in section
    # The callback is a note for the operator who booked it.
    assert "Retornos e lembretes para você" in week.text
    assert "Retorno a Ana marcado para" in week.text
    # The lead's timeline lists the appointment with its two reminders still to be sent.
    timeline = operator.get(f"/ui/leads/{lead_id}").text.split('id="lead-timeline"')[1]
    assert timeline.split("</section>")[0].count('data-reminder="agendado"') == 2
    one_day = operator.get(
        f"/ui/agendamentos?vista=dia&dia={(day + timedelta(days=1)).isoformat()}"
    )
    assert "Nada agendado." in one_day.text


def test_reschedule_cancel_and_outcome(as_user: Callable[..., TestClient], lead_id: int) -> None:
    operator = as_user("operator")
    page = book(operator, lead_id).split("?")[0]
    later = (next_week_day() + timedelta(days=1)).isoformat()
    moved = post(operator, f"{page}/reagendar", {"data": later, "hora": "09:15"})
    assert moved.status_code == 303
    shown = operator.get(moved.headers["location"])
    assert "Remarcado: novos lembretes e um convite atualizado." in shown.text
    assert shown.text.count('data-reminder="cancelado"') == 2
    assert 'data-event="reagendado"' in shown.text

    past = post(operator, f"{page}/reagendar", {"data": "2001-01-01", "hora": "09:00"})
    assert past.status_code == 422 and "Escolha um dia e horário a partir de agora." in past.text
    no_reason = post(operator, f"{page}/cancelar", {"motivo_cancelamento": " "})
    assert no_reason.status_code == 422
    assert "Diga por que o agendamento foi cancelado." in no_reason.text
    cancelled = post(operator, f"{page}/cancelar", {"motivo_cancelamento": "cliente pediu"})
    assert cancelled.status_code == 303
    shown = operator.get(cancelled.headers["location"])
    assert 'data-status="cancelado"' in shown.text and "cliente pediu" in shown.text
    assert "move-form" not in shown.text  # closed: no more changes

    other = book(operator, lead_id).split("?")[0]
    done = post(operator, f"{other}/encerrar", {"resultado": "nao_compareceu"})
    assert done.status_code == 303
    assert 'data-status="nao_compareceu"' in operator.get(other).text


def test_bad_form_input_keeps_the_values_and_names_the_field(
    as_user: Callable[..., TestClient], lead_id: int
) -> None:
    operator = as_user("operator")
    data = {"lead_id": str(lead_id), "tipo": "callback", "canal": "telefone"}
    bad_time = post(operator, "/ui/agendamentos", {**data, "data": "2030-01-10", "hora": "25:99"})
    assert bad_time.status_code == 422
    assert "Informe o horário, por exemplo 14:30." in bad_time.text
    assert 'id="hora" name="hora" value="25:99"' in bad_time.text
    bad_zone = post(
        operator,
        "/ui/agendamentos",
        {**data, "data": "2030-01-10", "hora": "10:00", "timezone": "Lua/Base"},
    )
    assert bad_zone.status_code == 422 and "Escolha um fuso horário" in bad_zone.text


def test_viewers_see_but_do_not_change(as_user: Callable[..., TestClient], lead_id: int) -> None:
    page = book(as_user("operator"), lead_id).split("?")[0]
    viewer = as_user("viewer")
    assert viewer.get(page).status_code == 200
    assert "cancel-form" not in viewer.get(page).text
    refused = post(viewer, f"{page}/cancelar", {"motivo_cancelamento": "x"})
    assert refused.status_code == 403
    assert viewer.get(f"/ui/agendamentos/novo?lead_id={lead_id}").status_code == 403
