"""Helpers for the campaign tests: leads written directly, campaigns created and driven."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from carteiro.campaigns import planner, service
from carteiro.campaigns.models import Campaign, CampaignRecipient
from carteiro.campaigns.schemas import CampaignCreate
from carteiro.leads.models import Lead, LeadEmail, LeadTelefone
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

BODY = '<p>Olá {{ contato_nome | default("cliente") }}</p><a href="{{ unsubscribe_url }}">sair</a>'


def add_leads(
    runtime: Runtime,
    tenant_id: int,
    rows: Sequence[dict[str, Any]],
) -> list[int]:
    """Each row: email (str or list), and any Lead column, plus `phone` and `consent`."""
    ids = []
    with runtime.db.session() as session:
        for i, row in enumerate(rows):
            row = dict(row)
            emails = row.pop("email", None)
            phone = row.pop("phone", None)
            state = row.pop("consent", "unknown")
            valid = row.pop("valid", True)
            row.setdefault("lead_id_externo", f"ext-{i}-{row.get('nome', '')}-{emails}")
            lead = Lead(tenant_id=tenant_id, **row)
            session.add(lead)
            session.flush()
            for j, e in enumerate([emails] if isinstance(emails, str) else emails or []):
                session.add(
                    LeadEmail(
                        lead_id=lead.lead_id,
                        tenant_id=tenant_id,
                        email=e,
                        email_principal=j == 0,
                        consentimento=state,
                        valido_para_disparo=valid,
                    )
                )
            if phone:
                session.add(
                    LeadTelefone(
                        lead_id=lead.lead_id,
                        tenant_id=tenant_id,
                        telefone=phone,
                        telefone_principal=True,
                    )
                )
            ids.append(lead.lead_id)
    return ids


def make_campaign(runtime: Runtime, principal: Principal, **fields: Any) -> int:
    data: dict[str, Any] = {
        "name": "Boas-vindas",
        "audience": {
            "kind": "rules",
            "rule": {"type": "field", "field": "status", "op": "eq", "value": "novo"},
        },
        "variants": [{"subject": "Oi {{ nome | default('') }}", "content": BODY}],
    }
    data.update(fields)
    with runtime.db.session() as session:
        return service.create(
            session, principal=principal, data=CampaignCreate.model_validate(data)
        ).id


def schedule(runtime: Runtime, principal: Principal, campaign_id: int, **kw: Any) -> None:
    with runtime.db.session() as session:
        service.schedule(
            session, principal=principal, campaign_id=campaign_id, settings=runtime.settings, **kw
        )


def tick(runtime: Runtime, now: datetime | None = None, rounds: int = 1) -> None:
    for _ in range(rounds):
        planner.tick(runtime, owner="test", now=now)


def campaign(runtime: Runtime, campaign_id: int) -> Campaign:
    with runtime.db.session() as session:
        return session.get_one(Campaign, campaign_id)


def ledger(runtime: Runtime, campaign_id: int) -> list[CampaignRecipient]:
    with runtime.db.session() as session:
        return list(
            session.scalars(
                select(CampaignRecipient)
                .where(CampaignRecipient.campaign_id == campaign_id)
                .order_by(CampaignRecipient.id)
            )
        )
