"""E-mail dispatches: queued on the transactional lane, delivered by the real dispatcher to the
SMTP sink; the dispatch follows its e-mail (sent, refused)."""

from __future__ import annotations

import email as email_lib
from datetime import timedelta
from email.policy import default

from dispatchkit import Lead
from fastapi.testclient import TestClient

from carteiro.db.types import utcnow
from carteiro.dispatches.worker import DispatchWorker
from carteiro.outbound.models import LANE_TRANSACTIONAL, Email
from carteiro.runtime import Runtime
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink


def _email_body(lead: Lead, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "canal": "email",
        "email_id": lead.email_id,
        "template": "boleto",
        "payload": {
            "variaveis": {"valor": "R$ 150,00"},
            "assunto": "Seu boleto de {{valor}}",
            "corpo": "Olá {{nome}}, segue o boleto de {{valor}}.",
        },
        "agendar_para": None,
    }
    body.update(extra)
    return body


async def test_email_dispatch_is_sent_through_the_queue(
    client: TestClient, lead: Lead, runtime: Runtime, sink: SmtpSink, smtp_account: int
) -> None:
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=_email_body(lead))
    assert r.status_code == 201, r.text
    disparo_id = r.json()["disparo_id"]
    assert await DispatchWorker(runtime).once() is False  # e-mail work is handed over
    d = client.get(f"/disparos/{disparo_id}").json()
    email_id = d["email_message_id"]
    assert d["status"] == "pendente" and email_id
    with runtime.db.session() as session:
        email = session.get_one(Email, email_id)
        assert email.lane == LANE_TRANSACTIONAL and email.subject == "Seu boleto de R$ 150,00"
        assert email.to_email == "maria1@example.com"
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
    (got,) = sink.messages
    text = email_lib.message_from_bytes(got.data, policy=default)
    body = text.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Olá Maria Silva, segue o boleto de R$ 150,00." in body.get_content()
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "enviado" and d["data_envio"]


async def test_refused_email_fails_the_dispatch(
    client: TestClient, lead: Lead, runtime: Runtime, sink: SmtpSink, smtp_account: int
) -> None:
    sink.default_reply = "550 5.1.1 User unknown"
    disparo_id = client.post(f"/leads/{lead.lead_id}/disparos", json=_email_body(lead)).json()[
        "disparo_id"
    ]
    await DispatchWorker(runtime).once()
    email_id = client.get(f"/disparos/{disparo_id}").json()["email_message_id"]
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "failed")
    d = client.get(f"/disparos/{disparo_id}").json()
    assert d["status"] == "erro" and d["error_class"] == "email_failed" and d["dead_letter"]


async def test_scheduled_email_dispatch(
    client: TestClient, lead: Lead, runtime: Runtime, sink: SmtpSink, smtp_account: int
) -> None:
    later = utcnow() + timedelta(hours=1)
    body = _email_body(lead, agendar_para=later.isoformat())
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=body)
    assert r.json()["status"] == "pendente"
    disparo_id = r.json()["disparo_id"]
    await DispatchWorker(runtime).once()
    assert client.get(f"/disparos/{disparo_id}").json()["email_message_id"] is None
    await DispatchWorker(runtime, clock=lambda: later + timedelta(seconds=1)).once()
    assert client.get(f"/disparos/{disparo_id}").json()["email_message_id"] is not None


def test_email_dispatch_refuses_a_foreign_address(client: TestClient, lead: Lead) -> None:
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=_email_body(lead, email_id=999))
    assert r.status_code == 422 and r.json()["field"] == "email_id"
