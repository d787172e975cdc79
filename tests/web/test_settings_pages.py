"""Suppressions, webhooks and API keys pages over HTTP: roles, CSRF, audit, shown-once secrets."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from leadsui import post

from carteiro.db.types import utcnow
from carteiro.runtime import Runtime
from carteiro.tenancy import audit
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal


def _actions(runtime: Runtime, tenant_id: int) -> list[tuple[str, str | None]]:
    with runtime.db.session() as session:
        entries, _ = audit.list_(session, tenant_id=tenant_id, filter=audit.AuditFilter())
        return [(e.action, e.target_type) for e in entries]


# --- suppressions ---------------------------------------------------------------------------


def test_operators_add_search_and_remove_suppressions(
    as_user: Callable[..., TestClient], runtime: Runtime, principal: Principal
) -> None:
    operator = as_user("operator")
    empty = operator.get("/ui/suppressions")
    assert "A lista de bloqueio está vazia." in empty.text
    added = post(operator, "/ui/suppressions", {"value": "Ana@Example.com", "reason": "manual"})
    assert added.status_code == 303 and added.headers["location"].endswith("notice=added")
    domain = post(operator, "/ui/suppressions", {"value": "spam.example", "reason": "complaint"})
    assert domain.status_code == 303
    again = post(operator, "/ui/suppressions", {"value": "ana@example.com", "reason": "manual"})
    assert again.headers["location"].endswith("notice=exists")
    listing = operator.get("/ui/suppressions")
    assert 'data-suppression="ana@example.com"' in listing.text
    assert 'data-suppression="spam.example"' in listing.text
    found = operator.get("/ui/suppressions", params={"q": "spam"})
    assert found.text.count('data-suppression="') == 1
    by_reason = operator.get("/ui/suppressions", params={"reason": "complaint"})
    assert by_reason.text.count('data-suppression="') == 1
    # Removing asks first (data-confirm, handled by app.js) and is audited.
    assert "data-confirm=" in listing.text
    entry = re.search(r"/ui/suppressions/(\d+)/delete", listing.text)
    assert entry
    removed = post(operator, f"/ui/suppressions/{entry.group(1)}/delete")
    assert removed.status_code == 303
    assert operator.get("/ui/suppressions").text.count('data-suppression="') == 1
    assert ("delete", "suppression") in _actions(runtime, principal.tenant_id)


def test_a_bad_suppression_names_the_field(as_user: Callable[..., TestClient]) -> None:
    operator = as_user("operator")
    bad = post(operator, "/ui/suppressions", {"value": "not an address", "reason": "manual"})
    assert bad.status_code == 422 and 'id="value-error"' in bad.text
    reason = post(operator, "/ui/suppressions", {"value": "a@example.com", "reason": "bogus"})
    assert reason.status_code == 422 and "Escolha um motivo da lista." in reason.text


def test_viewers_read_suppressions_but_cannot_change_them(
    as_user: Callable[..., TestClient],
) -> None:
    operator = as_user("operator")
    post(operator, "/ui/suppressions", {"value": "a@example.com", "reason": "manual"})
    viewer = as_user("viewer")
    page = viewer.get("/ui/suppressions")
    assert 'data-suppression="a@example.com"' in page.text
    assert 'name="value"' not in page.text and "/delete" not in page.text
    assert post(viewer, "/ui/suppressions", {"value": "b@example.com"}).status_code == 403
    no_token = operator.post(
        "/ui/suppressions", data={"value": "c@example.com"}, follow_redirects=False
    )
    assert no_token.status_code == 403


# --- webhooks --------------------------------------------------------------------------------


def test_admins_create_a_webhook_see_its_secret_once_and_delete_it(
    as_user: Callable[..., TestClient], runtime: Runtime, principal: Principal
) -> None:
    admin = as_user("admin")
    assert "Nenhum webhook ainda." in admin.get("/ui/webhooks").text
    created = post(
        admin,
        "/ui/webhooks",
        {"url": "https://hooks.example.com/carteiro", "events": ["sent", "bounced"]},
    )
    # POST/redirect/GET: the secret is on the page the redirect leads to, once.
    assert created.status_code == 303, created.text
    shown_at = created.headers["location"]
    assert re.fullmatch(r"/ui/webhooks/\d+/created", shown_at)
    page = admin.get(shown_at, follow_redirects=False)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    secret = re.search(r'value="(whsec_[^"]+)" data-secret', page.text)
    assert secret, page.text
    reloaded = admin.get(shown_at, follow_redirects=False)
    assert reloaded.status_code == 303
    assert reloaded.headers["location"] == shown_at.removesuffix("/created")
    listing = admin.get("/ui/webhooks")
    assert "https://hooks.example.com/carteiro" in listing.text
    assert secret.group(1) not in listing.text
    hook_id = re.search(r'data-webhook="(\d+)"', listing.text)
    assert hook_id
    log = admin.get(f"/ui/webhooks/{hook_id.group(1)}")
    assert log.status_code == 200 and "Nada entregue ainda." in log.text
    assert secret.group(1) not in log.text
    assert admin.get(f"/ui/webhooks/{hook_id.group(1)}?status=bogus").status_code == 422
    deleted = post(admin, f"/ui/webhooks/{hook_id.group(1)}/delete")
    assert deleted.status_code == 303
    assert "Nenhum webhook ainda." in admin.get("/ui/webhooks").text
    actions = _actions(runtime, principal.tenant_id)
    assert ("webhook_create", "webhook") in actions and ("delete", "webhook") in actions


def test_a_bad_webhook_names_the_field_and_the_fix(as_user: Callable[..., TestClient]) -> None:
    admin = as_user("admin")
    internal = post(admin, "/ui/webhooks", {"url": "http://127.0.0.1/x", "events": ["sent"]})
    assert internal.status_code == 422 and 'id="url-error"' in internal.text
    assert "127.0.0.1" in internal.text
    no_events = post(admin, "/ui/webhooks", {"url": "https://hooks.example.com/"})
    assert no_events.status_code == 422 and 'id="events-error"' in no_events.text
    short = post(
        admin,
        "/ui/webhooks",
        {"url": "https://hooks.example.com/", "events": ["sent"], "secret": "short"},
    )
    assert short.status_code == 422 and 'id="secret-error"' in short.text


def test_operators_cannot_reach_webhooks(as_user: Callable[..., TestClient]) -> None:
    operator = as_user("operator")
    assert operator.get("/ui/webhooks").status_code == 403
    refused = post(operator, "/ui/webhooks", {"url": "https://h.example.com/", "events": ["sent"]})
    assert refused.status_code == 403


# --- API keys --------------------------------------------------------------------------------


def test_a_key_is_shown_once_authenticates_and_stops_when_revoked(
    as_user: Callable[..., TestClient],
    web: Callable[[], TestClient],
    runtime: Runtime,
    principal: Principal,
) -> None:
    admin = as_user("admin")
    created = post(
        admin,
        "/ui/keys",
        {
            "name": "CRM",
            "scopes": ["leads:read"],
            "allowed_recipients": "*@cliente.com.br",
            "review_mode": "true",
            "rate_limit_per_hour": "100",
        },
    )
    assert created.status_code == 303, created.text
    shown_at = created.headers["location"]
    page = admin.get(shown_at, follow_redirects=False)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    plain = re.search(r'value="(ct_[^"]+)" data-plain-key', page.text)
    assert plain
    # A reload does not create another key nor show this one again.
    keys = admin.get("/ui/keys").text.count("data-key=")
    reloaded = admin.get(shown_at)
    assert plain.group(1) not in reloaded.text
    assert "é mostrada uma única vez" in reloaded.text
    assert admin.get("/ui/keys").text.count("data-key=") == keys
    listing = admin.get("/ui/keys")
    assert plain.group(1) not in listing.text
    row = re.search(r'<tr data-key="(ct_[^"]+)".*?</tr>', listing.text, re.S)
    assert row and "CRM" in row.group(0) and "*@cliente.com.br" in row.group(0)
    assert "100 / hora" in row.group(0)

    api = web()
    bearer = {"Authorization": f"Bearer {plain.group(1)}"}
    assert api.get("/leads", headers=bearer).status_code == 200
    assert api.get("/keys", headers=bearer).status_code == 403  # only leads:read

    key_id = re.search(r"/ui/keys/(\d+)/revoke", listing.text)
    assert key_id and "data-confirm=" in listing.text
    revoked = post(admin, f"/ui/keys/{key_id.group(1)}/revoke")
    assert revoked.status_code == 303
    assert api.get("/leads", headers=bearer).status_code == 401
    assert "revogada em" in admin.get("/ui/keys").text
    actions = _actions(runtime, principal.tenant_id)
    assert ("key_create", "api_key") in actions and ("key_revoke", "api_key") in actions


def test_revoked_and_expired_keys_are_folded_below_the_active_ones(
    as_user: Callable[..., TestClient], runtime: Runtime, principal: Principal
) -> None:
    with runtime.db.session() as session, session.begin():
        for name in ("Ativa", "Revogada", "Expirada", "Renovada"):
            key, _ = tenancy.create_key(session, tenant_id=principal.tenant_id, name=name)
            if name == "Revogada":
                key.revoked_at = utcnow()
            elif name == "Expirada":
                key.expires_at = utcnow() - timedelta(minutes=5)
            elif name == "Renovada":
                key.expires_at = utcnow() + timedelta(hours=1)
    listing = as_user("admin").get("/ui/keys").text
    active, _, folded = listing.partition('id="revoked-keys"')
    assert folded, "the revoked keys are not folded away"
    for name in ("Ativa", "Renovada"):
        assert f">{name} <code" in active and f">{name} <code" not in folded
    for name in ("Revogada", "Expirada"):
        assert f">{name} <code" in folded and f">{name} <code" not in active
    assert "2 chaves revogadas ou expiradas" in folded
    assert "expirou em" in folded and "ativa até" in active


def test_a_bad_key_names_the_field(as_user: Callable[..., TestClient]) -> None:
    admin = as_user("admin")
    no_scope = post(admin, "/ui/keys", {"name": "x"})
    assert no_scope.status_code == 422 and 'id="scopes-error"' in no_scope.text
    no_name = post(admin, "/ui/keys", {"name": " ", "scopes": ["leads:read"]})
    assert no_name.status_code == 422 and 'id="name-error"' in no_name.text
    bad_rate = post(
        admin, "/ui/keys", {"name": "x", "scopes": ["leads:read"], "rate_limit_per_hour": "-1"}
    )
    assert bad_rate.status_code == 422 and 'id="rate_limit_per_hour-error"' in bad_rate.text
    # Nothing was created: only the tenant's first key is listed.
    assert admin.get("/ui/keys").text.count('<tr data-key="') == 1


def test_operators_cannot_make_or_revoke_keys_and_csrf_is_required(
    as_user: Callable[..., TestClient], principal: Principal
) -> None:
    operator = as_user("operator")
    assert operator.get("/ui/keys").status_code == 403
    assert post(operator, "/ui/keys", {"name": "x", "scopes": ["*"]}).status_code == 403
    assert post(operator, f"/ui/keys/{principal.key_id}/revoke").status_code == 403
    admin = as_user("admin")
    no_token = admin.post("/ui/keys", data={"name": "x", "scopes": ["*"]}, follow_redirects=False)
    assert no_token.status_code == 403


def test_every_form_on_these_pages_carries_the_sessions_csrf_token(
    as_user: Callable[..., TestClient],
) -> None:
    admin = as_user("admin")
    post(admin, "/ui/suppressions", {"value": "a@example.com", "reason": "manual"})
    post(admin, "/ui/webhooks", {"url": "https://hooks.example.com/", "events": ["sent"]})
    token = admin.cookies.get("carteiro_csrf")
    for path in (
        "/ui/leads/import",
        "/ui/suppressions",
        "/ui/webhooks",
        "/ui/keys",
        "/ui/keys/new",
    ):
        html = admin.get(path).text
        posts = len(re.findall(r'<form method="post"', html))
        tokens = re.findall(r'name="csrf_token" value="([^"]*)"', html)
        assert posts >= 2 and len(tokens) == posts, path  # the page's forms and the footer's
        assert set(tokens) == {token}, path


def test_the_delivery_log_shows_status_attempts_and_the_last_error(
    as_user: Callable[..., TestClient], runtime: Runtime, principal: Principal
) -> None:
    from datetime import UTC, datetime

    from carteiro.webhooks.models import WebhookDelivery

    admin = as_user("admin")
    post(admin, "/ui/webhooks", {"url": "https://hooks.example.com/", "events": ["sent"]})
    hook_id = int(re.findall(r'data-webhook="(\d+)"', admin.get("/ui/webhooks").text)[0])
    with runtime.db.session() as session:
        for i, (status, code, error) in enumerate(
            (("delivered", 200, None), ("failed", 500, "HTTP 500 from the endpoint"))
        ):
            session.add(
                WebhookDelivery(
                    tenant_id=principal.tenant_id,
                    webhook_id=hook_id,
                    event_id=f"ev_{i}",
                    event_type="sent",
                    payload={},
                    status=status,
                    attempts=1 + 9 * i,
                    run_at=datetime.now(UTC),
                    last_status_code=code,
                    last_error=error,
                )
            )
    log = admin.get(f"/ui/webhooks/{hook_id}").text
    assert log.count('data-delivery="') == 2
    rows = re.findall(r'<tr data-delivery="\d+">(.*?)</tr>', log, re.S)
    assert any("falhou" in r and "500" in r and "HTTP 500 from the endpoint" in r for r in rows)
    assert any("entregue" in r and "200" in r for r in rows)
    failed = admin.get(f"/ui/webhooks/{hook_id}", params={"status": "failed"}).text
    assert failed.count('data-delivery="') == 1 and ">10<" in failed
