"""The console's dispatch list and dead-letter view, with its requeue, in Portuguese."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from leadsui import post

from carteiro.db.types import utcnow
from carteiro.dispatches import lifecycle, service
from carteiro.leads.models import Lead, LeadTelefone
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp.schemas import NumberCreate, TemplateCreate, TemplateParam


def _dead_dispatch(runtime: Runtime, principal: Principal) -> int:
    with runtime.db.session() as session:
        lead = Lead(tenant_id=principal.tenant_id, lead_id_externo="x1", nome="Maria")
        session.add(lead)
        session.flush()
        session.add(
            LeadTelefone(
                lead_id=lead.lead_id,
                tenant_id=principal.tenant_id,
                telefone="+5511987654321",
                tipo="mobile",
            )
        )
        whatsapp.create_number(
            session,
            tenant_id=principal.tenant_id,
            data=NumberCreate(
                name="n", phone_number_id="1", token="t", app_secret="s", verify_token="v"
            ),
            vault=runtime.vault,
            evolution_enabled=False,
        )
        whatsapp.create_template(
            session,
            tenant_id=principal.tenant_id,
            data=TemplateCreate(name="aviso", params=[TemplateParam(name="nome")]),
        )
        session.flush()
        d = service.create(
            session,
            principal=principal,
            lead_id=lead.lead_id,
            canal="whatsapp",
            template="aviso",
            variaveis={"nome": "Maria"},
        )
        lifecycle.fail(
            session,
            d,
            error_class="recipient",
            code="131026",
            message="Message Undeliverable",
            now=utcnow(),
        )
        return d.disparo_id


def test_list_dead_letters_and_requeue(
    as_user: Callable[..., TestClient], runtime: Runtime, principal: Principal
) -> None:
    disparo_id = _dead_dispatch(runtime, principal)
    client = as_user("operator")
    page = client.get("/ui/disparos")
    assert page.status_code == 200
    assert "Disparos" in page.text and f'data-disparo="{disparo_id}"' in page.text
    assert "Message Undeliverable" in page.text
    dead = client.get("/ui/disparos?dead=true")
    assert "Disparos com falha" in dead.text and "Enviar de novo" in dead.text
    r = post(client, f"/ui/disparos/{disparo_id}/requeue")
    assert r.status_code == 303
    after = client.get(r.headers["location"])
    assert "Reenviado como um novo disparo." in after.text
    assert f"reenviado como #{disparo_id + 1}" in after.text
    assert client.get("/ui/disparos?status=nope").status_code == 422


def test_viewers_see_but_do_not_requeue(
    as_user: Callable[..., TestClient], runtime: Runtime, principal: Principal
) -> None:
    disparo_id = _dead_dispatch(runtime, principal)
    viewer = as_user("viewer")
    assert "Enviar de novo" not in viewer.get("/ui/disparos?dead=true").text
    assert post(viewer, f"/ui/disparos/{disparo_id}/requeue").status_code == 403
