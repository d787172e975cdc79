"""The REST API of appointments: the seed's request and response, reschedule, cancel, done,
no-show, listing, idempotency, tenant isolation and scopes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from carteiro.runtime import Runtime
from carteiro.tenancy import people
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal


def future(days: float = 2) -> str:
    when = datetime.now(UTC) + timedelta(days=days)
    return when.replace(microsecond=0).isoformat()


def book(client: TestClient, lead_id: int, **extra: object) -> dict:
    body = {"tipo": "reuniao", "canal": "video", "data_agendada": future(), **extra}
    response = client.post(f"/leads/{lead_id}/agendamentos", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_seed_request_and_response_verbatim(client: TestClient, lead_id: int) -> None:
    response = client.post(
        f"/leads/{lead_id}/agendamentos",
        json={
            "tipo": "callback",
            "canal": "telefone",
            "data_agendada": "2030-12-10T14:00:00-03:00",
            "observacoes": "Cliente pediu retorno à tarde",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"agendamento_id", "status", "data_agendada"}
    assert body["status"] == "pendente"
    assert isinstance(body["agendamento_id"], int)
    assert datetime.fromisoformat(body["data_agendada"]) == datetime(2030, 12, 10, 17, tzinfo=UTC)

    detail = client.get(f"/agendamentos/{body['agendamento_id']}").json()
    assert detail["observacoes"] == "Cliente pediu retorno à tarde"
    assert [r["offset_minutos"] for r in detail["lembretes"]] == [1440, 60]
    assert {r["channel"] for r in detail["lembretes"]} == {"owner"}
    assert [e["tipo"] for e in detail["eventos"]][:2] == ["criado", "callback_agendado"]


def test_bad_input_names_the_field(client: TestClient, lead_id: int) -> None:
    cases = [
        ({"tipo": "visita", "canal": "video", "data_agendada": future()}, "tipo"),
        ({"tipo": "reuniao", "canal": "sms", "data_agendada": future()}, "canal"),
        (
            {"tipo": "reuniao", "canal": "video", "data_agendada": "2030-12-10T14:00:00"},
            "data_agendada",
        ),
        (
            {"tipo": "reuniao", "canal": "video", "data_agendada": "2001-01-01T10:00:00Z"},
            "data_agendada",
        ),
        (
            {
                "tipo": "reuniao",
                "canal": "video",
                "data_agendada": future(),
                "timezone": "Mars/Base",
            },
            "timezone",
        ),
        (
            {"tipo": "reuniao", "canal": "video", "data_agendada": future(), "owner_user_id": 999},
            "owner_user_id",
        ),
        (
            {
                "tipo": "reuniao",
                "canal": "video",
                "data_agendada": future(),
                "lembretes_minutos": [-1],
            },
            "lembretes_minutos",
        ),
    ]
    for body, field in cases:
        response = client.post(f"/leads/{lead_id}/agendamentos", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["field"], (body, response.json())
    assert client.get("/agendamentos").json()["total"] == 0


def test_reschedule_recreates_reminders_and_raises_the_sequence(
    client: TestClient, lead_id: int
) -> None:
    created = book(client, lead_id)
    ag_id = created["agendamento_id"]
    before = client.get(f"/agendamentos/{ag_id}").json()
    new_time = future(days=5)
    response = client.patch(f"/agendamentos/{ag_id}", json={"data_agendada": new_time})
    assert response.status_code == 200, response.text
    after = response.json()
    assert datetime.fromisoformat(after["data_agendada"]) == datetime.fromisoformat(new_time)
    assert after["ics_sequence"] == before["ics_sequence"] + 1
    assert after["ics_uid"] == before["ics_uid"]
    statuses = sorted((r["status"], r["offset_minutos"]) for r in after["lembretes"])
    assert statuses == [
        ("agendado", 60),
        ("agendado", 1440),
        ("cancelado", 60),
        ("cancelado", 1440),
    ]
    due = {
        datetime.fromisoformat(r["due_at"]) for r in after["lembretes"] if r["status"] == "agendado"
    }
    start = datetime.fromisoformat(new_time)
    assert due == {start - timedelta(minutes=1440), start - timedelta(minutes=60)}
    events = [e["tipo"] for e in client.get(f"/agendamentos/{ag_id}").json()["eventos"]]
    assert "reagendado" in events


def test_cancel_requires_its_reason(client: TestClient, lead_id: int) -> None:
    ag_id = book(client, lead_id)["agendamento_id"]
    for body in ({}, {"motivo_cancelamento": ""}):
        response = client.post(f"/agendamentos/{ag_id}/cancel", json=body)
        assert response.status_code == 422
        assert response.json()["field"] == "motivo_cancelamento"
    assert client.get(f"/agendamentos/{ag_id}").json()["status"] == "pendente"

    response = client.post(
        f"/agendamentos/{ag_id}/cancel", json={"motivo_cancelamento": "cliente_solicitou"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelado" and body["motivo_cancelamento"] == "cliente_solicitou"
    assert body["cancelado_em"] is not None
    assert {r["status"] for r in body["lembretes"]} == {"cancelado"}
    # Final: neither moved, cancelled again nor marked done.
    assert (
        client.patch(f"/agendamentos/{ag_id}", json={"data_agendada": future(3)}).status_code == 409
    )
    assert client.post(f"/agendamentos/{ag_id}/realizado").status_code == 409


def test_done_and_no_show(client: TestClient, lead_id: int) -> None:
    done = book(client, lead_id)["agendamento_id"]
    absent = book(client, lead_id)["agendamento_id"]
    response = client.post(
        f"/agendamentos/{done}/realizado", json={"observacoes": "acordo fechado"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "realizado" and response.json()["realizado_em"]
    response = client.post(f"/agendamentos/{absent}/nao_compareceu")
    assert response.status_code == 200 and response.json()["status"] == "nao_compareceu"
    assert client.get("/agendamentos", params={"status": "realizado"}).json()["total"] == 1
    assert client.get("/agendamentos", params={"status": "nao_compareceu"}).json()["total"] == 1


def test_list_by_day_owner_lead_and_paging(
    client: TestClient, runtime: Runtime, principal: Principal, make_lead: Callable[..., int]
) -> None:
    first, second = make_lead("A"), make_lead("B", email="b@example.com")
    with runtime.db.session() as session:
        owner = people.create(
            session,
            tenant_id=principal.tenant_id,
            email="ana@example.com",
            name="Ana",
            password="a-long-password-1",
            role="operator",
        ).id
    book(client, first, data_agendada="2030-03-10T09:00:00-03:00")
    book(client, first, data_agendada="2030-03-10T23:30:00-03:00", owner_user_id=owner)
    book(client, second, data_agendada="2030-03-11T10:00:00-03:00")
    day = client.get(
        "/agendamentos", params={"dia": "2030-03-10", "timezone": "America/Sao_Paulo"}
    ).json()
    assert day["total"] == 2
    # 23:30 in São Paulo is the next day in UTC: the local day decides.
    utc_day = client.get("/agendamentos", params={"dia": "2030-03-10", "timezone": "UTC"}).json()
    assert utc_day["total"] == 1
    week = client.get("/agendamentos", params={"dia": "2030-03-09", "dias": 7}).json()
    assert week["total"] == 3
    assert [i["lead_id"] for i in week["items"]] == [first, first, second]
    assert client.get("/agendamentos", params={"owner_user_id": owner}).json()["total"] == 1
    assert client.get("/agendamentos", params={"lead_id": second}).json()["total"] == 1
    paged = client.get("/agendamentos", params={"limit": 2, "offset": 2}).json()
    assert (len(paged["items"]), paged["total"], paged["limit"], paged["offset"]) == (1, 3, 2, 2)
    bad = client.get("/agendamentos", params={"dia": "2030-03-10", "timezone": "Nowhere"})
    assert bad.status_code == 422 and bad.json()["field"] == "timezone"


def test_idempotency_key_returns_the_first(client: TestClient, lead_id: int) -> None:
    body = {"tipo": "reuniao", "canal": "video", "data_agendada": future()}
    headers = {"Idempotency-Key": "agenda-1"}
    first = client.post(f"/leads/{lead_id}/agendamentos", json=body, headers=headers)
    again = client.post(f"/leads/{lead_id}/agendamentos", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert client.get("/agendamentos").json()["total"] == 1


def test_other_tenants_appointments_are_not_found(
    client: TestClient, lead_id: int, other_tenant: tuple[Principal, str]
) -> None:
    ag_id = book(client, lead_id)["agendamento_id"]
    other = {"Authorization": f"Bearer {other_tenant[1]}"}
    assert client.get(f"/agendamentos/{ag_id}", headers=other).status_code == 404
    assert client.get("/agendamentos", headers=other).json()["total"] == 0
    cancel = {"motivo_cancelamento": "x"}
    assert (
        client.post(f"/agendamentos/{ag_id}/cancel", json=cancel, headers=other).status_code == 404
    )
    body = {"tipo": "reuniao", "canal": "video", "data_agendada": future()}
    assert (
        client.post(f"/leads/{lead_id}/agendamentos", json=body, headers=other).status_code == 404
    )


def test_scopes_like_the_leads_api(
    client: TestClient, runtime: Runtime, principal: Principal, lead_id: int
) -> None:
    with runtime.db.session() as session:
        _, reader = tenancy.create_key(
            session, tenant_id=principal.tenant_id, name="reader", scopes=("leads:read",)
        )
        _, sender = tenancy.create_key(
            session, tenant_id=principal.tenant_id, name="sender", scopes=("emails:send",)
        )
    body = {"tipo": "reuniao", "canal": "video", "data_agendada": future()}
    as_reader = {"Authorization": f"Bearer {reader}"}
    assert client.get("/agendamentos", headers=as_reader).status_code == 200
    created = client.post(f"/leads/{lead_id}/agendamentos", json=body, headers=as_reader)
    assert created.status_code == 403
    as_sender = {"Authorization": f"Bearer {sender}"}
    assert client.get("/agendamentos", headers=as_sender).status_code == 403


def test_bookings_are_counted_by_tenant_and_channel(
    client: TestClient, lead_id: int, principal: Principal
) -> None:
    def counted() -> float:
        text = client.get("/metrics").text
        for line in text.splitlines():
            if line.startswith("agendamentos_criados_total{") and (
                f'tenant="{principal.tenant_id}"' in line and 'canal="whatsapp"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = counted()
    book(client, lead_id, canal="whatsapp")
    book(client, lead_id, canal="whatsapp")
    bad = {"tipo": "reuniao", "canal": "whatsapp", "data_agendada": "2001-01-01T00:00:00Z"}
    assert client.post(f"/leads/{lead_id}/agendamentos", json=bad).status_code == 422
    assert counted() == before + 2
