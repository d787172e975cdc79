"""Appointment changes reach webhooks that subscribed to them, through the usual fan-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.webhooks import fanout
from carteiro.webhooks import service as webhooks
from carteiro.webhooks.models import WebhookDelivery
from carteiro.webhooks.schemas import WebhookCreate


def test_subscribers_get_the_appointment_events_they_chose(
    client: TestClient, runtime: Runtime, principal: Principal, lead_id: int
) -> None:
    with runtime.db.session() as session:
        fanout.ensure_cursor(session)
        webhooks.create(
            session,
            tenant_id=principal.tenant_id,
            data=WebhookCreate(
                url="http://127.0.0.1:9/hook",
                events=["appointment_created", "appointment_cancelled", "callback_requested"],
            ),
            vault=runtime.vault,
            allow_private=True,
        )
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    body = {"tipo": "callback", "canal": "telefone", "data_agendada": start}
    ag_id = client.post(f"/leads/{lead_id}/agendamentos", json=body).json()["agendamento_id"]
    client.patch(f"/agendamentos/{ag_id}", json={"observacoes": "not an event subscribers chose"})
    client.post(f"/agendamentos/{ag_id}/cancel", json={"motivo_cancelamento": "duplicado"})
    with runtime.db.session() as session:
        fanout.fan_out(session, owner="test")
    with runtime.db.session() as session:
        kinds = sorted(session.scalars(select(WebhookDelivery.event_type)))
    assert kinds == ["appointment_cancelled", "appointment_created", "callback_requested"]
