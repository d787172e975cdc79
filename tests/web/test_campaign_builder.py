"""The campaign builder over HTTP: a draft saved, edited, previewed, linted, test-sent and
scheduled through the campaigns service; form errors name their field; viewers are refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from webkit import csrf_of

from carteiro.campaigns import catalog, service
from carteiro.campaigns.models import Campaign, CampaignVariant
from carteiro.campaigns.schemas import CampaignCreate, TemplateCreate
from carteiro.leads.models import Lead, LeadEmail
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

PT = {"Accept-Language": "pt-BR"}
BODY = '<p>Olá {{ nome }}</p><a href="{{ unsubscribe_url }}">sair</a>'


def _leads(runtime: Runtime, tenant_id: int) -> list[int]:
    ids = []
    with runtime.db.session() as session:
        for i, nome in enumerate(("Padaria Sol", "Bar Lua", "Loja Mar")):
            lead = Lead(tenant_id=tenant_id, lead_id_externo=f"b{i}", nome=nome)
            session.add(lead)
            session.flush()
            session.add(
                LeadEmail(lead_id=lead.lead_id, tenant_id=tenant_id, email=f"c{i}@example.com")
            )
            ids.append(lead.lead_id)
    return ids


def _form(client: TestClient, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf_of(client),
        "name": "Natal",
        "audience_mode": "simple",
        "status": "novo",
        "v0_subject": "Feliz Natal, {{ nome }}",
        "v0_preheader": "Ofertas da semana",
        "v0_format": "html",
        "v0_content": BODY,
        "v0_from_name": "Equipe Natal",
        "v0_weight": "1",
        "mode": "now",
        "default_tz": "America/Sao_Paulo",
        "test_fraction": "20",
        "wait_hours": "4",
        "metric": "clicks",
        "fallback": "control",
        "min_per_variant": "100",
        "action": "save",
    }
    form.update(overrides)
    return form


def _campaign(runtime: Runtime, cid: int) -> tuple[Campaign, list[CampaignVariant]]:
    with runtime.db.session() as session:
        c = session.get_one(Campaign, cid)
        variants = list(
            session.scalars(
                select(CampaignVariant)
                .where(CampaignVariant.campaign_id == cid)
                .order_by(CampaignVariant.label)
            )
        )
        session.expunge_all()
    return c, variants


def _saved_id(response: Any) -> int:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/ui/campanhas/") and location.endswith("/editar?notice=saved")
    return int(location.split("/")[3])


def test_a_draft_with_two_variants_is_saved_and_edited(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    _leads(runtime, principal.tenant_id)
    operator = as_user("operator")
    listing = operator.get("/ui/campaigns", headers=PT)
    assert 'href="/ui/campanhas/nova"' in listing.text and "Nova campanha" in listing.text
    page = operator.get("/ui/campanhas/nova", headers=PT)
    assert page.status_code == 200
    for section in ("Público", "Conteúdo", "Quando enviar", "Teste A/B", "Pré-visualização"):
        assert section in page.text, section
    saved = operator.post(
        "/ui/campanhas/nova",
        data=_form(
            operator,
            tag="vip",
            consent="opt_in",
            ab_enabled="1",
            test_fraction="30",
            wait_hours="2",
            metric="replies",
            v1_subject="Natal com desconto",
            v1_content=BODY,
            v1_from_name="Ana da Loja",
            v1_weight="3",
            v1_format="markdown",
        ),
        follow_redirects=False,
    )
    cid = _saved_id(saved)
    c, variants = _campaign(runtime, cid)
    assert c.status == "draft" and c.name == "Natal"
    assert c.ab_enabled and c.ab_test_fraction == 0.3 and c.ab_wait_seconds == 7200
    assert c.ab_metric == "replies"
    assert c.audience == {
        "kind": "rules",
        "rule": {
            "type": "and",
            "rules": [
                {"type": "tag", "tag": "vip", "present": True},
                {"type": "field", "field": "status", "op": "eq", "value": "novo"},
                {"type": "consent", "value": "opt_in"},
            ],
        },
    }
    assert [(v.label, v.weight, v.from_name, v.format) for v in variants] == [
        ("A", 1, "Equipe Natal", "html"),
        ("B", 3, "Ana da Loja", "markdown"),
    ]
    edit = operator.get(f"/ui/campanhas/{cid}/editar?notice=saved", headers=PT)
    assert edit.status_code == 200 and "Rascunho salvo." in edit.text
    assert 'value="Ana da Loja"' in edit.text and 'value="vip"' in edit.text
    assert f'hx-get="/ui/campanhas/{cid}/verificacao"' in edit.text
    # A route set through the API (any account of a domain) is offered, and kept on save.
    with runtime.db.session() as session:
        session.get_one(Campaign, cid).from_route = "@loja.example.com.br"
    kept = operator.get(f"/ui/campanhas/{cid}/editar")
    assert '<option value="@loja.example.com.br" selected>' in kept.text
    # Editing: variant B removed, the audience now a condition on the status only, and the
    # sender back to any account of the pool.
    again = operator.post(
        f"/ui/campanhas/{cid}/editar", data=_form(operator, name="Natal 2"), follow_redirects=False
    )
    assert _saved_id(again) == cid
    c, variants = _campaign(runtime, cid)
    assert c.name == "Natal 2" and [v.label for v in variants] == ["A"] and not c.ab_enabled
    assert c.from_route is None


def test_a_refused_form_names_the_field_and_keeps_what_was_typed(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    operator = as_user("operator")
    empty_subject = operator.post(
        "/ui/campanhas/nova", data=_form(operator, v0_subject=""), headers=PT
    )
    assert empty_subject.status_code == 422
    assert 'data-field="v0_subject"' in empty_subject.text
    assert 'id="v0_subject-error"' in empty_subject.text
    assert str(escape(BODY)) in empty_subject.text  # the body typed comes back
    assert "Assunto: preencha este campo." in empty_subject.text
    assert "String should" not in empty_subject.text  # pydantic's English stays inside
    bad_time = operator.post(
        "/ui/campanhas/nova", data=_form(operator, mode="at", send_at="amanhã"), headers=PT
    )
    assert bad_time.status_code == 422 and 'data-field="send_at"' in bad_time.text
    window = operator.post(
        "/ui/campanhas/nova",
        data=_form(operator, mode="local", window_start="18:00", window_end="09:00"),
    )
    assert window.status_code == 422 and 'data-field="window_end"' in window.text
    no_audience = operator.post("/ui/campanhas/nova", data=_form(operator, status=""), headers=PT)
    assert no_audience.status_code == 422 and 'data-field="tag"' in no_audience.text
    assert "Informe pelo menos uma condição" in no_audience.text
    lonely_ab = operator.post("/ui/campanhas/nova", data=_form(operator, ab_enabled="1"))
    assert lonely_ab.status_code == 422 and 'data-field="ab_enabled"' in lonely_ab.text
    with runtime.db.session() as session:
        assert session.scalar(select(Campaign.id)) is None  # nothing was stored


def test_a_blank_new_form_shows_hints_not_errors(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    operator = as_user("operator")
    blank = {"csrf_token": _form(operator)["csrf_token"], "audience_mode": "simple"}
    audience = operator.post("/ui/campanhas/audiencia", data=blank, headers=PT)
    assert audience.status_code == 200
    assert "data-audience-hint" in audience.text and "data-audience-error" not in audience.text
    preview = operator.post("/ui/campanhas/previa", data=blank, headers=PT)
    assert preview.status_code == 200 and "data-preview-error" not in preview.text
    # Once the person starts typing, a refused value is named in their language.
    typed = operator.post(
        "/ui/campanhas/previa", data={**blank, "v0_content": "<p>Oi</p>"}, headers=PT
    )
    assert "data-preview-error" in typed.text and "Assunto: preencha este campo." in typed.text


def test_audience_count_and_live_preview_for_a_chosen_lead(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    ids = _leads(runtime, principal.tenant_id)
    operator = as_user("operator")
    counted = operator.post("/ui/campanhas/audiencia", data=_form(operator), headers=PT)
    assert counted.status_code == 200
    assert 'data-audience-count="3"' in counted.text and "c0@example.com" in counted.text
    nobody = operator.post("/ui/campanhas/audiencia", data=_form(operator, status="perdido"))
    assert 'data-audience-count="0"' in nobody.text
    summary = operator.post(
        "/ui/campanhas/previa", data=_form(operator, preview_lead=str(ids[1])), headers=PT
    )
    assert summary.status_code == 200
    assert "Feliz Natal, Bar Lua" in summary.text and "c1@example.com" in summary.text
    frame = operator.post(
        "/ui/campanhas/previa/quadro", data=_form(operator, preview_lead=str(ids[2]))
    )
    assert frame.status_code == 200 and "Olá Loja Mar" in frame.text
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    policy = frame.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy  # nothing runs
    broken = operator.post(
        "/ui/campanhas/previa", data=_form(operator, v0_content="<p>{{ nome </p>"), headers=PT
    )
    assert broken.status_code == 200 and "data-preview-error" in broken.text


def test_lint_blocks_scheduling_then_a_fixed_draft_is_tested_and_scheduled(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    _leads(runtime, principal.tenant_id)
    operator = as_user("operator")
    no_link = operator.post(
        "/ui/campanhas/nova",
        data=_form(operator, v0_content="<p>Olá {{ nome }}</p>", action="schedule"),
        headers=PT,
    )
    assert no_link.status_code == 409, no_link.text
    assert 'data-lint="errors"' in no_link.text and 'data-lint-error="unsubscribe"' in no_link.text
    with runtime.db.session() as session:
        (cid,) = session.scalars(select(Campaign.id))
        assert session.get_one(Campaign, cid).status == "draft"  # the work is kept
    lint = operator.get(f"/ui/campanhas/{cid}/verificacao", headers=PT)
    assert lint.status_code == 200 and 'data-lint-error="unsubscribe"' in lint.text
    tested = operator.post(
        f"/ui/campanhas/{cid}/editar",
        data=_form(operator, action="test", test_to="revisora@example.com"),
        follow_redirects=False,
    )
    assert tested.status_code == 303 and tested.headers["location"].endswith("notice=tested")
    with runtime.db.session() as session:
        subjects = list(session.scalars(select(Email.subject)))
    assert subjects == ["[TEST] Feliz Natal, Padaria Sol"]
    assert 'data-lint="ok"' in operator.get(f"/ui/campanhas/{cid}/verificacao").text
    scheduled = operator.post(
        f"/ui/campanhas/{cid}/editar",
        data=_form(operator, action="schedule"),
        follow_redirects=False,
    )
    assert scheduled.status_code == 303 and scheduled.headers["location"] == f"/ui/campaigns/{cid}"
    assert _campaign(runtime, cid)[0].status == "scheduled"
    # No longer a draft: the builder sends the person to the live panel.
    moved = operator.get(f"/ui/campanhas/{cid}/editar", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == f"/ui/campaigns/{cid}"


def test_viewers_and_forged_requests_are_refused(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    viewer = as_user("viewer")
    assert "/ui/campanhas/nova" not in viewer.get("/ui/campaigns").text
    assert viewer.get("/ui/campanhas/nova").status_code == 403
    assert viewer.post("/ui/campanhas/nova", data=_form(viewer)).status_code == 403
    assert viewer.post("/ui/campanhas/previa", data=_form(viewer)).status_code == 403
    operator = as_user("operator", email="op@example.com")
    forged = _form(operator)
    forged["csrf_token"] = "x" * 43
    assert operator.post("/ui/campanhas/nova", data=forged).status_code == 403
    assert operator.get("/ui/campanhas/999999/editar").status_code == 404
    with runtime.db.session() as session:
        assert session.scalar(select(Campaign.id)) is None


def test_an_audience_made_through_the_api_is_kept_by_an_edit(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    audience = {
        "kind": "rules",
        "rule": {
            "type": "or",
            "rules": [
                {"type": "field", "field": "nome", "op": "contains", "value": "Padaria"},
                {"type": "engagement", "action": "clicked", "campaign_id": None},
            ],
        },
    }
    with runtime.db.session() as session:
        cid = service.create(
            session,
            principal=principal,
            data=CampaignCreate.model_validate(
                {
                    "name": "Pela API",
                    "audience": audience,
                    "variants": [{"subject": "Oi", "content": BODY}],
                }
            ),
        ).id
    operator = as_user("operator")
    edit = operator.get(f"/ui/campanhas/{cid}/editar", headers=PT)
    assert 'id="b-aud-keep" value="keep" checked' in edit.text
    kept = operator.post(
        "/ui/campanhas/audiencia", data=_form(operator, audience_mode="keep"), headers=PT
    )
    assert "O público definido pela API é mantido como está." in kept.text
    saved = operator.post(
        f"/ui/campanhas/{cid}/editar",
        data=_form(operator, name="Pela API", audience_mode="keep", status=""),
        follow_redirects=False,
    )
    assert _saved_id(saved) == cid
    with runtime.db.session() as session:
        stored = session.get_one(Campaign, cid).audience
    assert stored is not None and stored["rule"]["type"] == "or"


def test_variables_reply_to_and_tracking_are_saved_edited_and_rendered(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    lead_ids = _leads(runtime, principal.tenant_id)
    operator = as_user("operator")
    blank = operator.get("/ui/campanhas/nova", headers=PT)
    assert 'id="b-track" name="track" value="1" checked' in blank.text
    body = BODY + "<p>Use o cupom {{ cupom }} até {{ vars.prazo }}</p>"
    saved = operator.post(
        "/ui/campanhas/nova",
        data=_form(
            operator,
            v0_content=body,
            variables="cupom = NATAL10\n\n# prazo da oferta\nprazo = 24/12\n",
            reply_to="vendas@loja.example.com.br",
            track="1",
        ),
        follow_redirects=False,
    )
    cid = _saved_id(saved)
    c, _ = _campaign(runtime, cid)
    assert c.variables == {"cupom": "NATAL10", "prazo": "24/12"}
    assert c.reply_to == "vendas@loja.example.com.br" and c.track
    preview = operator.post(
        "/ui/campanhas/previa/quadro",
        data=_form(operator, v0_content=body, variables="cupom = NATAL10\nprazo = 24/12"),
    )
    assert "Use o cupom NATAL10 até 24/12" in preview.text, preview.text
    edit = operator.get(f"/ui/campanhas/{cid}/editar", headers=PT)
    assert "cupom = NATAL10\nprazo = 24/12\n</textarea>" in edit.text
    assert 'value="vendas@loja.example.com.br"' in edit.text
    # An unticked box is an unticked box; an emptied field drops the reply-to.
    again = operator.post(
        f"/ui/campanhas/{cid}/editar",
        data=_form(operator, v0_content=body, variables="cupom = NATAL20", reply_to=""),
        follow_redirects=False,
    )
    assert _saved_id(again) == cid
    c, _ = _campaign(runtime, cid)
    assert c.variables == {"cupom": "NATAL20"} and c.reply_to is None and not c.track
    assert lead_ids


def test_a_bad_variables_line_is_named_and_nothing_is_saved(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    operator = as_user("operator")
    for text, expected in (
        ("cupom = A\nsem sinal de igual", "A linha 2 das variáveis"),
        ("cupom = A\ncupom = B", "A linha 2 repete a variável cupom"),
        ("1cupom = A", "A linha 1 das variáveis"),
    ):
        refused = operator.post(
            "/ui/campanhas/nova", data=_form(operator, variables=text), headers=PT
        )
        assert refused.status_code == 422, refused.status_code
        assert 'id="variables-error"' in refused.text and expected in refused.text, text
        assert str(escape(text.split("\n")[0])) in refused.text
    with runtime.db.session() as session:
        assert session.scalars(select(Campaign)).first() is None


def test_variables_that_are_not_text_are_kept_by_an_edit(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    with runtime.db.session() as session:
        cid = service.create(
            session,
            principal=principal,
            data=CampaignCreate.model_validate(
                {
                    "name": "Pela API",
                    "audience": {"kind": "rules", "rule": {"type": "tag", "tag": "vip"}},
                    "variables": {"desconto": 10, "frete_gratis": True},
                    "variants": [{"subject": "Oi", "content": BODY}],
                }
            ),
        ).id
    operator = as_user("operator")
    edit = operator.get(f"/ui/campanhas/{cid}/editar", headers=PT)
    assert 'name="variables_mode" value="keep"' in edit.text
    assert 'name="variables"' not in edit.text
    saved = operator.post(
        f"/ui/campanhas/{cid}/editar",
        data=_form(operator, name="Pela API", tag="vip", status="", variables_mode="keep"),
        follow_redirects=False,
    )
    assert _saved_id(saved) == cid
    c, _ = _campaign(runtime, cid)
    assert c.variables == {"desconto": 10, "frete_gratis": True}


def test_choosing_no_layout_drops_the_drafts_layout(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    with runtime.db.session() as session:
        row = catalog.create_template(
            session,
            tenant_id=principal.tenant_id,
            data=TemplateCreate(name="Marca", body="<div>Marca</div>{{ content }}"),
        )
        session.flush()
        layout = row.id
    operator = as_user("operator")
    cid = _saved_id(
        operator.post(
            "/ui/campanhas/nova",
            data=_form(operator, template_id=str(layout)),
            follow_redirects=False,
        )
    )
    c, variants = _campaign(runtime, cid)
    assert c.template_id == layout and "Marca" in (variants[0].compiled_html or "")
    edit = operator.get(f"/ui/campanhas/{cid}/editar")
    assert f'<option value="{layout}" selected>' in edit.text
    saved = operator.post(
        f"/ui/campanhas/{cid}/editar", data=_form(operator, template_id=""), follow_redirects=False
    )
    assert _saved_id(saved) == cid
    c, variants = _campaign(runtime, cid)
    assert c.template_id is None and "Marca" not in (variants[0].compiled_html or "")
