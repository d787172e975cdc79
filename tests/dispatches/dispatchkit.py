"""Helpers for dispatch tests: leads, a registered number and template, webhook delivery."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from carteiro.dispatches import inbox
from carteiro.leads.models import Lead as LeadRow
from carteiro.leads.models import LeadEmail, LeadTelefone
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.fake_whatsapp import FakeCloudApi
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp.schemas import NumberCreate, TemplateCreate, TemplateParam

PHONE_NUMBER_ID = "1122334455"


@dataclass(frozen=True)
class Lead:
    lead_id: int
    email_id: int
    telefone_id: int
    phone: str


def make_lead(
    runtime: Runtime, tenant_id: int, *, phone: str = "+5511987654321", n: int = 1
) -> Lead:
    with runtime.db.session() as session:
        lead = LeadRow(tenant_id=tenant_id, lead_id_externo=f"ext-{n}-{phone}", nome="Maria Silva")
        session.add(lead)
        session.flush()
        email = LeadEmail(
            lead_id=lead.lead_id,
            tenant_id=tenant_id,
            email=f"maria{n}@example.com",
            email_principal=True,
        )
        tel = LeadTelefone(
            lead_id=lead.lead_id,
            tenant_id=tenant_id,
            telefone=phone,
            telefone_principal=True,
            tipo="mobile",
        )
        session.add_all([email, tel])
        session.flush()
        return Lead(lead.lead_id, email.email_id, tel.telefone_id, phone)


def register_number(runtime: Runtime, principal: Principal, *, base_url: str | None = None) -> int:
    with runtime.db.session() as session:
        number = whatsapp.create_number(
            session,
            tenant_id=principal.tenant_id,
            data=NumberCreate(
                name="principal",
                phone_number_id=PHONE_NUMBER_ID,
                token="wa-token",
                app_secret="app-secret",
                verify_token="verify-me",
                base_url=base_url or "http://fake-graph",
                pair_interval_seconds=0,
            ),
            vault=runtime.vault,
            evolution_enabled=False,
        )
        whatsapp.create_template(
            session,
            tenant_id=principal.tenant_id,
            data=TemplateCreate(
                name="lembrete_pagamento",
                params=[TemplateParam(name="nome"), TemplateParam(name="valor")],
                body="Olá {{nome}}, seu boleto de {{valor}} vence amanhã.",
            ),
        )
        return number.id


def seed_body(lead: Lead, **extra: object) -> dict[str, object]:
    """The seed's request, verbatim."""
    body: dict[str, object] = {
        "canal": "whatsapp",
        "telefone_id": lead.telefone_id,
        "template": "lembrete_pagamento",
        "payload": {"variaveis": {"nome": "Maria", "valor": "R$ 150,00"}},
        "agendar_para": "",
    }
    body.update(extra)
    return body


def post_webhook(
    client: TestClient, number_id: int, raw: bytes, fake: FakeCloudApi, *, bad: bool = False
) -> int:
    response = client.post(
        f"/webhooks/whatsapp/cloud/{number_id}",
        content=raw,
        headers={"X-Hub-Signature-256": fake.signature(raw, bad=bad), "Authorization": ""},
    )
    return response.status_code


def process_webhooks(runtime: Runtime) -> int:
    return inbox.process_batch(runtime, worker_id="test")


def run(coro: object) -> object:
    return asyncio.get_event_loop().run_until_complete(coro)  # type: ignore[arg-type]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
