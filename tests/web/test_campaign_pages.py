"""The campaign pages: the list, the live panel (progress fragment) and its controls."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from webkit import csrf_of

from carteiro.campaigns import planner, service
from carteiro.campaigns.schemas import CampaignCreate
from carteiro.leads.models import Lead, LeadEmail
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

BODY = '<p>Olá</p><a href="{{ unsubscribe_url }}">sair</a>'


def _running_campaign(runtime: Runtime, principal: Principal) -> int:
    with runtime.db.session() as session:
        for i in range(3):
            lead = Lead(tenant_id=principal.tenant_id, lead_id_externo=f"x{i}", nome=f"Loja {i}")
            session.add(lead)
            session.flush()
            session.add(
                LeadEmail(
                    lead_id=lead.lead_id,
                    tenant_id=principal.tenant_id,
                    email=f"loja{i}@example.com",
                )
            )
        c = service.create(
            session,
            principal=principal,
            data=CampaignCreate.model_validate(
                {
                    "name": "Natal",
                    "audience": {
                        "kind": "rules",
                        "rule": {"type": "field", "field": "status", "value": "novo"},
                    },
                    "variants": [{"subject": "Feliz Natal", "content": BODY}],
                }
            ),
        )
        cid = c.id
    with runtime.db.session() as session:
        service.schedule(session, principal=principal, campaign_id=cid, settings=runtime.settings)
    planner.tick(runtime, owner="test")
    return cid


def test_list_panel_and_pause_in_portuguese(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    cid = _running_campaign(runtime, principal)
    operator = as_user("operator")
    listing = operator.get("/ui/campaigns", headers={"Accept-Language": "pt-BR"})
    assert listing.status_code == 200
    assert "Campanhas" in listing.text and "Natal" in listing.text and "enviando" in listing.text
    panel = operator.get(f"/ui/campaigns/{cid}", headers={"Accept-Language": "pt-BR"})
    assert panel.status_code == 200
    assert f'hx-get="/ui/campaigns/{cid}/frag/progress"' in panel.text  # live while sending
    assert 'data-count="audience">3<' in panel.text and "Pausar" in panel.text
    frag = operator.get(f"/ui/campaigns/{cid}/frag/progress")
    assert frag.status_code == 200 and frag.text.lstrip().startswith("<section")
    paused = operator.post(
        f"/ui/campaigns/{cid}/pause",
        data={"csrf_token": csrf_of(operator)},
        follow_redirects=True,
        headers={"Accept-Language": "pt-BR"},
    )
    assert paused.status_code == 200 and "Pausada" in paused.text
    again = operator.post(f"/ui/campaigns/{cid}/pause", data={"csrf_token": csrf_of(operator)})
    assert again.status_code == 409 and "is paused" in again.text


def test_viewer_sees_but_cannot_act(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    cid = _running_campaign(runtime, principal)
    viewer = as_user("viewer")
    panel = viewer.get(f"/ui/campaigns/{cid}")
    assert panel.status_code == 200 and f"/ui/campaigns/{cid}/pause" not in panel.text
    refused = viewer.post(f"/ui/campaigns/{cid}/pause", data={"csrf_token": csrf_of(viewer)})
    assert refused.status_code == 403
    assert viewer.get("/ui/campaigns/999999").status_code == 404
