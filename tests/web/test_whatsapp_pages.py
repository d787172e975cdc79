"""The WhatsApp pages: numbers (secrets write-only, breaker state, the current rate, pause and
resume), the template registry (field errors, edit, removal) and a test send to the fake Cloud
API on loopback; admins change, everyone else reads; every form needs its CSRF token."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from leadsui import post
from sqlalchemy import select

from carteiro.db.types import utcnow
from carteiro.runtime import Runtime
from carteiro.testing.asgi_server import serve_in_thread
from carteiro.testing.fake_whatsapp import FakeCloudApi
from carteiro.whatsapp.models import WhatsAppNumber, WhatsAppTemplate

FORM = {
    "name": "cobranca",
    "provider": "cloud",
    "phone_number_id": "1122334455",
    "display_phone": "+55 11 3000-0000",
    "base_url": "",
    "fallback_template": "",
    "token": "wa-token",
    "app_secret": "app-secret-value",
    "verify_token": "verify-me-please",
    "rate_per_second": "20",
    "pair_interval_seconds": "6",
}
TEMPLATE = {
    "name": "lembrete_pagamento",
    "language": "pt_BR",
    "category": "UTILITY",
    "param_format": "named",
    "params": "nome, valor, desconto?",
    "body": "Olá {{nome}}, seu boleto de {{valor}} vence amanhã. {{desconto}}",
}


@pytest.fixture
def fake() -> FakeCloudApi:
    api = FakeCloudApi()
    api.add_number("1122334455", "wa-token")
    api.add_template("lembrete_pagamento", 3)
    return api


@pytest.fixture
def graph(fake: FakeCloudApi) -> Iterator[str]:
    with serve_in_thread(fake.app) as base_url:
        yield base_url


def _number(runtime: Runtime, name: str = "cobranca") -> WhatsAppNumber | None:
    with runtime.db.session() as session:
        found = session.scalar(select(WhatsAppNumber).where(WhatsAppNumber.name == name))
        if found is not None:
            session.expunge(found)
        return found


def _templates(runtime: Runtime) -> list[WhatsAppTemplate]:
    with runtime.db.session() as session:
        rows = list(session.scalars(select(WhatsAppTemplate).order_by(WhatsAppTemplate.id)))
        session.expunge_all()
        return rows


def test_an_admin_adds_a_number_whose_secrets_never_come_back(
    runtime: Runtime, as_user: Callable[..., TestClient]
) -> None:
    admin = as_user("admin")
    created = post(admin, "/ui/whatsapp/numbers", FORM)
    assert created.status_code == 303, created.text
    number = _number(runtime)
    assert number is not None and number.rate_per_second == 20
    assert runtime.vault.decrypt(number.token_enc) == "wa-token"
    assert "wa-token" not in number.token_enc
    page = admin.get(created.headers["location"])
    assert page.status_code == 200
    assert 'data-number="cobranca"' in page.text and "Disjuntor" in page.text
    assert f"/webhooks/whatsapp/cloud/{number.id}" in page.text
    assert 'data-breaker="closed"' in page.text
    form = admin.get(f"/ui/whatsapp/numbers/{number.id}/edit")
    assert 'value="1122334455"' in form.text
    for secret in ("wa-token", "app-secret-value", "verify-me-please"):
        assert secret not in page.text and secret not in form.text


def test_editing_keeps_secrets_left_empty_and_replaces_a_new_one(
    runtime: Runtime, as_user: Callable[..., TestClient]
) -> None:
    admin = as_user("admin")
    post(admin, "/ui/whatsapp/numbers", FORM)
    before = _number(runtime)
    assert before is not None
    change = {**FORM, "token": "", "app_secret": "", "verify_token": "", "rate_per_second": "40"}
    saved = post(admin, f"/ui/whatsapp/numbers/{before.id}", change)
    assert saved.status_code == 303, saved.text
    after = _number(runtime)
    assert after is not None and after.rate_per_second == 40
    assert (after.token_enc, after.app_secret_enc) == (before.token_enc, before.app_secret_enc)
    post(admin, f"/ui/whatsapp/numbers/{before.id}", {**change, "token": "rotated"})
    rotated = _number(runtime)
    assert rotated is not None and runtime.vault.decrypt(rotated.token_enc) == "rotated"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"app_secret": ""}, "app_secret"),
        ({"token": ""}, "token"),
        ({"rate_per_second": "muitos"}, "rate_per_second"),
        ({"rate_per_second": "5000"}, "rate_per_second"),
        ({"provider": "evolution", "base_url": "http://gw"}, "provider"),
    ],
)
def test_bad_number_input_names_the_field_and_writes_nothing(
    runtime: Runtime, as_user: Callable[..., TestClient], change: dict[str, str], field: str
) -> None:
    admin = as_user("admin")
    bad = post(admin, "/ui/whatsapp/numbers", {**FORM, **change})
    assert bad.status_code == 422, bad.text
    assert f'data-error-field="{field}"' in bad.text
    assert 'value="+55 11 3000-0000"' in bad.text  # what was typed is kept
    assert "app-secret-value" not in bad.text  # but never a secret
    assert _number(runtime) is None


def test_a_second_number_with_the_same_name_is_refused_on_the_name(
    runtime: Runtime, as_user: Callable[..., TestClient]
) -> None:
    admin = as_user("admin")
    assert post(admin, "/ui/whatsapp/numbers", FORM).status_code == 303
    again = post(admin, "/ui/whatsapp/numbers", {**FORM, "phone_number_id": "999"})
    assert again.status_code == 422 and 'data-error-field="name"' in again.text
    assert "Este nome já está em uso." in again.text


def test_pause_resume_and_a_throttled_rate_show_on_the_list(
    runtime: Runtime, as_user: Callable[..., TestClient]
) -> None:
    admin = as_user("admin")
    post(admin, "/ui/whatsapp/numbers", FORM)
    number = _number(runtime)
    assert number is not None
    paused = post(admin, f"/ui/whatsapp/numbers/{number.id}/pause", {"reason": "troca de token"})
    assert paused.status_code == 303
    page = admin.get(paused.headers["location"])
    assert 'data-state="paused"' in page.text and "troca de token" in page.text
    assert 'data-breaker="manual"' in page.text
    assert post(admin, f"/ui/whatsapp/numbers/{number.id}/resume").status_code == 303
    with runtime.db.session() as session:
        row = session.get_one(WhatsAppNumber, number.id)
        assert row.status == "active" and row.paused_reason is None
        # As after Meta's 130429: half the rate, recovering.
        row.throttle_factor, row.throttled_at = 0.5, utcnow()
    page = admin.get("/ui/whatsapp")
    assert 'data-state="active"' in page.text and "data-throttled" in page.text
    assert "Meta limitou" in page.text


def test_viewers_and_operators_read_but_change_nothing(
    runtime: Runtime, as_user: Callable[..., TestClient]
) -> None:
    admin = as_user("admin")
    post(admin, "/ui/whatsapp/numbers", FORM)
    post(admin, "/ui/whatsapp/templates", TEMPLATE)
    number = _number(runtime)
    assert number is not None
    (template,) = _templates(runtime)
    for role in ("viewer", "operator"):
        reader = as_user(role)
        numbers = reader.get("/ui/whatsapp")
        assert numbers.status_code == 200 and 'data-number="cobranca"' in numbers.text
        assert "/ui/whatsapp/numbers/new" not in numbers.text and "Pausar" not in numbers.text
        templates = reader.get("/ui/whatsapp/templates")
        assert 'data-template="lembrete_pagamento"' in templates.text
        assert "nome, valor, desconto?" in templates.text and "Remover" not in templates.text
        for url in ("/ui/whatsapp/numbers/new", "/ui/whatsapp/templates/new", "/ui/whatsapp/test"):
            assert reader.get(url).status_code == 403
        for url, data in [
            ("/ui/whatsapp/numbers", {**FORM, "name": "outro"}),
            (f"/ui/whatsapp/numbers/{number.id}/pause", {}),
            (f"/ui/whatsapp/numbers/{number.id}", FORM),
            ("/ui/whatsapp/templates", {**TEMPLATE, "name": "outro"}),
            (f"/ui/whatsapp/templates/{template.id}/delete", {"confirm": template.name}),
            ("/ui/whatsapp/test", {"to": "+5511987654321", "template": template.name}),
        ]:
            assert post(reader, url, data).status_code == 403, url
    assert _number(runtime, "outro") is None and len(_templates(runtime)) == 1
    assert _number(runtime) is not None and _number(runtime).status == "active"  # type: ignore[union-attr]


def test_forms_without_the_csrf_token_are_refused(
    runtime: Runtime, as_user: Callable[..., TestClient]
) -> None:
    admin = as_user("admin")
    for url, data in [("/ui/whatsapp/numbers", FORM), ("/ui/whatsapp/templates", TEMPLATE)]:
        refused = admin.post(url, data=data, follow_redirects=False)
        assert refused.status_code == 403, url
    assert _number(runtime) is None and _templates(runtime) == []


def test_templates_are_registered_edited_and_removed(
    runtime: Runtime, as_user: Callable[..., TestClient]
) -> None:
    admin = as_user("admin")
    created = post(admin, "/ui/whatsapp/templates", TEMPLATE)
    assert created.status_code == 303, created.text
    (t,) = _templates(runtime)
    assert t.params == [
        {"name": "nome", "required": True},
        {"name": "valor", "required": True},
        {"name": "desconto", "required": False},
    ]
    form = admin.get(f"/ui/whatsapp/templates/{t.id}/edit")
    assert 'value="nome, valor, desconto?"' in form.text
    edited = {**TEMPLATE, "category": "MARKETING", "params": "nome", "body": "Oi {{nome}}"}
    assert post(admin, f"/ui/whatsapp/templates/{t.id}", edited).status_code == 303
    (t,) = _templates(runtime)
    assert t.category == "MARKETING" and [p["name"] for p in t.params] == ["nome"]
    unconfirmed = post(admin, f"/ui/whatsapp/templates/{t.id}/delete", {"confirm": "outro"})
    assert unconfirmed.status_code == 422 and len(_templates(runtime)) == 1
    removed = post(admin, f"/ui/whatsapp/templates/{t.id}/delete", {"confirm": t.name})
    assert removed.status_code == 303 and _templates(runtime) == []
    assert "removido" in admin.get(removed.headers["location"]).text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Lembrete Pagamento"}, "name"),
        ({"params": "nome completo"}, "params"),
        ({"category": "PROMO"}, "category"),
        ({"body": "x" * 1100}, "body"),
    ],
)
def test_bad_template_input_names_the_field(
    runtime: Runtime, as_user: Callable[..., TestClient], change: dict[str, str], field: str
) -> None:
    admin = as_user("admin")
    bad = post(admin, "/ui/whatsapp/templates", {**TEMPLATE, **change})
    assert bad.status_code == 422, bad.text
    assert f'data-error-field="{field}"' in bad.text and f'id="{field}"' in bad.text
    assert _templates(runtime) == []


def test_a_duplicate_template_is_refused_on_the_name(
    runtime: Runtime, as_user: Callable[..., TestClient]
) -> None:
    admin = as_user("admin")
    post(admin, "/ui/whatsapp/templates", TEMPLATE)
    again = post(admin, "/ui/whatsapp/templates", TEMPLATE)
    assert again.status_code == 422 and 'data-error-field="name"' in again.text


def test_a_test_send_reaches_the_fake_cloud_api_and_shows_its_answer(
    runtime: Runtime, as_user: Callable[..., TestClient], fake: FakeCloudApi, graph: str
) -> None:
    admin = as_user("admin")
    assert post(admin, "/ui/whatsapp/numbers", {**FORM, "base_url": graph}).status_code == 303
    post(admin, "/ui/whatsapp/templates", TEMPLATE)
    form = admin.get("/ui/whatsapp/test")
    assert form.status_code == 200 and "lembrete_pagamento (pt_BR)" in form.text
    sent = post(
        admin,
        "/ui/whatsapp/test",
        {
            "to": "+55 11 98765-4321",
            "template": "lembrete_pagamento",
            "variables": "nome=Ana\nvalor=R$ 10",
        },
    )
    assert sent.status_code == 200 and 'data-test="accepted"' in sent.text, sent.text
    (message,) = fake.outbox
    assert message.to == "5511987654321" and message.type == "template"
    params = message.body["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Ana", "R$ 10", "-"]
    assert message.body["biz_opaque_callback_data"] == "carteiro-test"


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"variables": "valor=10"}, "variables", "precisa da variável nome"),
        ({"variables": "nome=A\nvalor=1\ncpf=1"}, "variables", "não tem a variável cpf"),
        ({"to": "ligue pra mim"}, "to", "com código do país e DDD"),
        ({"template": "nao_existe"}, "template", "Escolha um modelo cadastrado."),
    ],
)
def test_a_bad_test_send_names_the_field_and_sends_nothing(
    runtime: Runtime,
    as_user: Callable[..., TestClient],
    fake: FakeCloudApi,
    graph: str,
    change: dict[str, str],
    field: str,
    says: str,
) -> None:
    admin = as_user("admin")
    post(admin, "/ui/whatsapp/numbers", {**FORM, "base_url": graph})
    post(admin, "/ui/whatsapp/templates", TEMPLATE)
    body = {
        "to": "+5511987654321",
        "template": "lembrete_pagamento",
        "variables": "nome=Ana\nvalor=1",
    }
    bad = post(admin, "/ui/whatsapp/test", {**body, **change})
    assert bad.status_code == 422 and f'data-error-field="{field}"' in bad.text, bad.text
    assert says in bad.text
    assert fake.outbox == []


def test_a_refusal_by_the_provider_is_shown_with_its_code(
    runtime: Runtime, as_user: Callable[..., TestClient], fake: FakeCloudApi, graph: str
) -> None:
    admin = as_user("admin")
    post(admin, "/ui/whatsapp/numbers", {**FORM, "base_url": graph, "token": "wrong"})
    post(admin, "/ui/whatsapp/templates", TEMPLATE)
    body = {
        "to": "+5511987654321",
        "template": "lembrete_pagamento",
        "variables": "nome=A\nvalor=1",
    }
    refused = post(admin, "/ui/whatsapp/test", body)
    assert refused.status_code == 200 and 'data-test="refused"' in refused.text
    assert "190" in refused.text and fake.outbox == []
