"""Contact rules at send time: opt-out keywords and preferences, consent, do-not-contact,
contact hours across a weekday, a holiday and two time zones, daily caps."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from dispatchkit import PHONE_NUMBER_ID, Lead, make_lead, post_webhook, process_webhooks, seed_body
from fastapi.testclient import TestClient

from carteiro.db.types import utcnow
from carteiro.dispatches import quiet, zones
from carteiro.dispatches.worker import DispatchWorker
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.fake_whatsapp import FakeCloudApi

SP = ZoneInfo("America/Sao_Paulo")
MANAUS = ZoneInfo("America/Manaus")


def _worker(runtime: Runtime, fake: FakeCloudApi, when: datetime | None = None) -> DispatchWorker:
    transport = fake.transport()
    clock = (lambda: when) if when is not None else utcnow
    return DispatchWorker(runtime, transport_for=lambda _b: transport, clock=clock)


@pytest.mark.parametrize("keyword", ["PARAR", "sair", " Stop! "])
async def test_opt_out_keyword_stops_contact_at_once(
    client: TestClient,
    lead: Lead,
    runtime: Runtime,
    fake: FakeCloudApi,
    number_id: int,
    keyword: str,
) -> None:
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead))
    pending = r.json()["disparo_id"]
    raw = fake.inbound_webhook(PHONE_NUMBER_ID, "5511987654321", keyword)
    assert post_webhook(client, number_id, raw, fake) == 200
    process_webhooks(runtime)
    assert client.get(f"/disparos/{pending}").json()["status"] == "cancelado"
    again = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead))
    assert again.status_code == 422 and "do-not-contact" in again.json()["message"]
    await _worker(runtime, fake).once()
    assert fake.outbox == []


async def test_old_eight_digit_wa_id_opts_out_the_lead_number(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    # WhatsApp ids of old Brazilian accounts lack the ninth digit.
    raw = fake.preferences_webhook(PHONE_NUMBER_ID, "551187654321", "stop")
    post_webhook(client, number_id, raw, fake)
    process_webhooks(runtime)
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead))
    assert r.status_code == 422
    raw = fake.preferences_webhook(PHONE_NUMBER_ID, "551187654321", "resume")
    post_webhook(client, number_id, raw, fake)
    process_webhooks(runtime)
    assert client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead)).status_code == 201


def test_consent_per_purpose_with_legal_basis(
    client: TestClient, lead: Lead, number_id: int
) -> None:
    marketing = seed_body(lead, purpose="marketing")
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=marketing)
    assert r.status_code == 422 and r.json()["field"] == "purpose"
    consent = {
        "canal": "whatsapp",
        "purpose": "marketing",
        "granted": True,
        "legal_basis": "consentimento",
        "evidence": "formulário do site, 2026-11-30, IP 203.0.113.7",
    }
    assert client.post(f"/leads/{lead.lead_id}/consents", json=consent).status_code == 200
    assert client.post(f"/leads/{lead.lead_id}/disparos", json=marketing).status_code == 201
    refused = {
        **consent,
        "purpose": "cobranca",
        "granted": False,
        "legal_basis": "protecao_credito",
    }
    client.post(f"/leads/{lead.lead_id}/consents", json=refused)
    r = client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead, purpose="cobranca"))
    assert r.status_code == 422
    listed = client.get(f"/leads/{lead.lead_id}/consents").json()
    assert {(c["purpose"], c["granted"]) for c in listed} == {
        ("marketing", True),
        ("cobranca", False),
    }


def test_do_not_contact_list(client: TestClient, lead: Lead, number_id: int) -> None:
    assert client.post("/do-not-contact", json={"value": "(11) 98765-4321"}).status_code == 201
    assert client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead)).status_code == 422
    assert client.delete("/do-not-contact/+5511987654321").status_code == 204
    assert client.post(f"/leads/{lead.lead_id}/disparos", json=seed_body(lead)).status_code == 201


def test_area_codes_give_state_and_zone() -> None:
    assert zones.uf_of_phone("+5511987654321") == "SP"
    assert zones.uf_of_phone("+5592987654321") == "AM"
    assert zones.zone_of("PE", "America/Sao_Paulo").key == "America/Recife"  # DDD 81
    assert zones.zone_of(zones.uf_of_phone("+5591987654321"), "UTC").key == "America/Belem"
    assert zones.uf_of_phone("+14155550100") is None


def test_collection_hours_weekday_saturday_sunday_and_holiday() -> None:
    def allowed(local: str, uf: str, zone: ZoneInfo = SP) -> bool:
        at = datetime.fromisoformat(local).replace(tzinfo=zone)
        return quiet.evaluate("cobranca_br", at=at, zone=zone, uf=uf).allowed

    assert allowed("2026-12-02T10:00", "SP")  # Wednesday
    assert not allowed("2026-12-02T20:30", "SP")
    assert allowed("2026-12-05T13:00", "SP")  # Saturday until 14
    assert not allowed("2026-12-05T14:30", "SP")
    assert not allowed("2026-12-06T10:00", "SP")  # Sunday
    assert not allowed("2026-12-25T10:00", "SP")  # Christmas, a Friday
    assert not allowed("2026-07-09T10:00", "SP")  # SP's state holiday (Revolução de 1932)
    assert allowed("2026-07-09T10:00", "RJ")
    assert not allowed("2026-12-05T10:00", "RJ")  # RJ: no Saturdays
    assert not allowed("2026-12-02T08:30", "RJ")  # RJ: from 9


def test_next_window_in_the_leads_zone() -> None:
    # 21:00 in São Paulo on Friday 2026-12-04 is 20:00 in Manaus: both closed; the next
    # window opens Saturday 08:00 local, an hour apart in UTC.
    at = datetime(2026, 12, 5, 0, 0, tzinfo=ZoneInfo("UTC"))
    sp = quiet.evaluate("cobranca_br", at=at, zone=SP, uf="SP")
    am = quiet.evaluate("cobranca_br", at=at, zone=MANAUS, uf="AM")
    assert sp.next_open == datetime(2026, 12, 5, 8, tzinfo=SP)
    # AM has no Saturday window: Monday 08:00 Manaus.
    assert am.next_open == datetime(2026, 12, 7, 8, tzinfo=MANAUS)


async def test_collection_out_of_hours_is_deferred_skipped_or_failed(
    client: TestClient, runtime: Runtime, principal: Principal, fake: FakeCloudApi, number_id: int
) -> None:
    sunday = datetime(2026, 12, 6, 12, 0, tzinfo=SP)
    leads = [
        make_lead(runtime, principal.tenant_id, phone=f"+551198765432{i}", n=i) for i in range(3)
    ]
    ids = {}
    for lead, mode in zip(leads, ("defer", "skip", "fail"), strict=True):
        body = seed_body(lead, purpose="cobranca", on_quiet=mode)
        ids[mode] = client.post(f"/leads/{lead.lead_id}/disparos", json=body).json()["disparo_id"]
    await _worker(runtime, fake, sunday).once()
    assert fake.outbox == []
    deferred = client.get(f"/disparos/{ids['defer']}").json()
    assert deferred["status"] == "pendente"
    opens = datetime.fromisoformat(deferred["proxima_tentativa"]).astimezone(SP)
    assert opens.date().isoformat() == "2026-12-07" and opens.hour == 8
    assert client.get(f"/disparos/{ids['skip']}").json()["status"] == "cancelado"
    assert client.get(f"/disparos/{ids['fail']}").json()["status"] == "erro"
    monday = datetime(2026, 12, 7, 9, 0, tzinfo=SP)
    await _worker(runtime, fake, monday).once()
    assert len(fake.outbox) == 1


async def test_daily_cap_per_purpose(
    client: TestClient, lead: Lead, runtime: Runtime, fake: FakeCloudApi, number_id: int
) -> None:
    runtime.settings.dispatch_daily_cap_cobranca = 1
    wednesday = datetime(2026, 12, 2, 10, 0, tzinfo=SP)
    body = seed_body(lead, purpose="cobranca")
    first = client.post(f"/leads/{lead.lead_id}/disparos", json=body).json()["disparo_id"]
    await _worker(runtime, fake, wednesday).once()
    second = client.post(f"/leads/{lead.lead_id}/disparos", json=body).json()["disparo_id"]
    await _worker(runtime, fake, wednesday.replace(hour=11)).once()
    assert client.get(f"/disparos/{first}").json()["status"] == "enviado"
    capped = client.get(f"/disparos/{second}").json()
    assert capped["status"] == "erro" and capped["error_class"] == "frequency_cap"
