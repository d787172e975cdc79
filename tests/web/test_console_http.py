"""The console over HTTP: redirects, setup, login messages, CSRF, cookies, roles, languages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from webkit import PASSWORD, Made, csrf_of, login

from carteiro.runtime import Runtime
from carteiro.tenancy import audit


def test_root_and_pages_lead_to_login_keeping_where_you_were(
    web: Callable[[], TestClient], tenant_id: int
) -> None:
    client = web()
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 303 and root.headers["location"] == "/ui/login"
    page = client.get("/ui/admin/audit?action=login", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/login?next=/ui/admin/audit%3Faction%3Dlogin"


def test_a_fragment_without_session_is_401_naming_the_login_page(
    web: Callable[[], TestClient], tenant_id: int
) -> None:
    response = web().get(
        "/ui/dashboard/pane/queue",
        headers={"Referer": "http://testserver/ui/?x=1"},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/ui/login?next=/ui/%3Fx%3D1"


def test_login_goes_to_next_but_never_off_site(
    web: Callable[[], TestClient], make_user: Callable[..., Made]
) -> None:
    make_user("ana@example.com", "admin")
    client = web()
    for wanted, landed in (
        ("/ui/admin/users", "/ui/admin/users"),
        ("//evil.example/x", "/ui/"),
        ("https://evil.example/", "/ui/"),
    ):
        client.cookies.delete("carteiro_session")
        response = client.post(
            "/ui/login",
            data={
                "email": "ana@example.com",
                "password": PASSWORD,
                "next": wanted,
                "csrf_token": csrf_of(client),
            },
            follow_redirects=False,
        )
        assert response.status_code == 303 and response.headers["location"] == landed


def test_setup_link_creates_the_owner_logs_in_and_then_stops_working(
    runtime: Runtime, web: Callable[[], TestClient], tenant_id: int
) -> None:
    token = runtime.setup_token()
    client = web()
    assert client.get("/setup/not-a-token").status_code == 404
    form = client.get(f"/setup/{token}")
    assert form.status_code == 200 and "Configurar o Carteiro" in form.text
    base = {"csrf_token": csrf_of(client), "name": "Dona", "email": "dona@example.com"}
    differ = client.post(
        f"/setup/{token}", data={**base, "password": PASSWORD, "password_again": PASSWORD + "x"}
    )
    assert differ.status_code == 422 and "As duas senhas são diferentes." in differ.text
    short = client.post(
        f"/setup/{token}", data={**base, "password": "short", "password_again": "short"}
    )
    assert short.status_code == 422 and "no mínimo 10 caracteres" in short.text
    done = client.post(
        f"/setup/{token}",
        data={**base, "password": PASSWORD, "password_again": PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/ui/"
    dashboard = client.get("/ui/")
    assert dashboard.status_code == 200 and "Painel" in dashboard.text and "Dona" in dashboard.text
    assert client.get(f"/setup/{token}").status_code == 404
    assert runtime.setup_token() is None


def test_unsafe_requests_without_the_csrf_token_are_refused(
    as_user: Callable[..., TestClient], web: Callable[[], TestClient]
) -> None:
    client = as_user("admin")
    token = csrf_of(client)
    missing = client.post(
        "/ui/admin/users",
        data={"name": "X", "email": "x@example.com", "role": "viewer", "password": PASSWORD},
    )
    assert missing.status_code == 403
    assert "código de segurança" in missing.text and "<h1" in missing.text
    wrong = client.post(
        "/ui/admin/users",
        data={
            "name": "X",
            "email": "x@example.com",
            "role": "viewer",
            "password": PASSWORD,
            "csrf_token": "x" * 43,
        },
    )
    assert wrong.status_code == 403
    # The header htmx sends works as well as the form field.
    by_header = client.post("/ui/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert by_header.status_code == 303
    # Logging in needs the token too (login CSRF).
    fresh = web()
    fresh.get("/ui/login")
    assert (
        fresh.post("/ui/login", data={"email": "a@example.com", "password": "x"}).status_code == 403
    )


def test_console_responses_carry_a_strict_csp_and_cookie_flags(
    web: Callable[[], TestClient], make_user: Callable[..., Made]
) -> None:
    make_user("ana@example.com")
    client = web()
    page = client.get("/ui/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert (
        "<script>" not in page.text and " style=" not in page.text and " onclick=" not in page.text
    )
    csrf_cookie = page.headers["set-cookie"]
    assert (
        "HttpOnly" in csrf_cookie and "SameSite=Lax" in csrf_cookie and "Secure" not in csrf_cookie
    )
    session_cookie = login(client, "ana@example.com").headers["set-cookie"]
    assert "carteiro_session=" in session_cookie
    assert "HttpOnly" in session_cookie and "samesite=lax" in session_cookie.lower()
    # The JSON API is untouched by the console's headers.
    assert "content-security-policy" not in client.get("/health").headers


def test_cookies_are_secure_behind_https(runtime: Runtime, make_user: Callable[..., Made]) -> None:
    from carteiro.api.app import create_app

    make_user("ana@example.com")
    runtime.settings = runtime.settings.model_copy(
        update={"public_url": "https://mail.example.com"}
    )
    with TestClient(create_app(runtime, run_worker=False), base_url="https://testserver") as client:
        assert "Secure" in client.get("/ui/login").headers["set-cookie"]
        assert "Secure" in login(client, "ana@example.com").headers["set-cookie"]


def test_wrong_password_lockout_and_throttle_messages(
    runtime: Runtime, web: Callable[[], TestClient], make_user: Callable[..., Made], tenant_id: int
) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"login_max_failures": 2, "login_ip_max_failures": 4}
    )
    make_user("ana@example.com")
    client = web()
    wrong = login(client, "ana@example.com", "nope")
    assert wrong.status_code == 401 and "E-mail ou senha incorretos." in wrong.text
    locked = login(client, "ana@example.com", "nope")
    assert locked.status_code == 423 and "bloqueada por mais 15 minuto(s)" in locked.text
    still = login(client, "ana@example.com")
    assert still.status_code == 423
    # Four failures from this address by now (the locked try counts): throttled.
    login(client, "who@example.com", "nope")
    throttled = login(client, "ana@example.com")
    assert throttled.status_code == 429 and "Aguarde alguns minutos" in throttled.text
    assert throttled.headers["Retry-After"] == "900"
    with runtime.db.session() as session:
        entries, total = audit.list_(
            session, tenant_id=tenant_id, filter=audit.AuditFilter(action="login_failed")
        )
        assert total == 5
        assert {e.actor for e in entries} == {"ana@example.com", "who@example.com"}


def test_logout_ends_the_session_for_good(
    web: Callable[[], TestClient], make_user: Callable[..., Made], runtime: Runtime, tenant_id: int
) -> None:
    make_user("ana@example.com")
    client = web()
    login(client, "ana@example.com")
    cookie = client.cookies.get("carteiro_session")
    assert client.get("/ui/").status_code == 200
    client.post("/ui/logout", data={"csrf_token": csrf_of(client)})
    # The old cookie, replayed, no longer works.
    replay = web()
    replay.cookies.set("carteiro_session", cookie)
    assert replay.get("/ui/", follow_redirects=False).status_code == 303
    with runtime.db.session() as session:
        actions = [
            e.action
            for e in audit.list_(session, tenant_id=tenant_id, filter=audit.AuditFilter())[0]
        ]
    assert actions[:2] == ["logout", "login"]


def test_revoking_another_session_and_all_of_them(
    web: Callable[[], TestClient], make_user: Callable[..., Made]
) -> None:
    make_user("ana@example.com")
    laptop, phone = web(), web()
    login(laptop, "ana@example.com")
    login(phone, "ana@example.com")
    listed = laptop.get("/ui/me/sessions")
    assert listed.text.count("data-session=") == 2
    revoked = laptop.post(
        "/ui/me/sessions/revoke-all",
        data={"csrf_token": csrf_of(laptop), "keep_this": "true"},
        follow_redirects=False,
    )
    assert revoked.headers["location"] == "/ui/me/sessions?notice=revoked_others"
    assert phone.get("/ui/", follow_redirects=False).status_code == 303
    assert laptop.get("/ui/").status_code == 200
    laptop.post(
        "/ui/me/sessions/revoke-all", data={"csrf_token": csrf_of(laptop), "keep_this": "false"}
    )
    assert laptop.get("/ui/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_cannot_reach_people_admin(
    as_user: Callable[..., TestClient], role: str
) -> None:
    client = as_user(role)
    dashboard = client.get("/ui/")
    assert dashboard.status_code == 200 and "/ui/admin/users" not in dashboard.text
    for url in ("/ui/admin/users", "/ui/admin/users/new", "/ui/admin/audit"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Você não pode fazer isto" in response.text
        assert "Seu papel não abre esta página" in response.text
    create = client.post(
        "/ui/admin/users",
        data={
            "name": "X",
            "email": "x@example.com",
            "role": "owner",
            "password": PASSWORD,
            "csrf_token": csrf_of(client),
        },
    )
    assert create.status_code == 403


def test_admins_manage_people_but_never_above_their_role(
    as_user: Callable[..., TestClient],
    make_user: Callable[..., Made],
    make_account: Callable[[str], int],
    web: Callable[[], TestClient],
) -> None:
    owner = make_user("dona@example.com", "owner")
    client = as_user("admin")
    token = csrf_of(client)
    made = client.post(
        "/ui/admin/users",
        data={
            "name": "Op",
            "email": "op@example.com",
            "role": "operator",
            "password": PASSWORD,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    op_url = made.headers["location"].split("?")[0]
    assert "A pessoa foi criada" in client.get(made.headers["location"]).text
    as_owner = client.post(
        "/ui/admin/users",
        data={
            "name": "O",
            "email": "o2@example.com",
            "role": "owner",
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    assert as_owner.status_code == 422 and "Escolha um papel" in as_owner.text
    demote = client.post(
        f"/ui/admin/users/{owner.id}/role", data={"role": "viewer", "csrf_token": token}
    )
    assert demote.status_code == 422
    disable_owner = client.post(
        f"/ui/admin/users/{owner.id}/status", data={"disabled": "true", "csrf_token": token}
    )
    assert disable_owner.status_code == 422
    # Grants: only this tenant's accounts, and the operator then sees exactly those.
    first, second = make_account("vendas"), make_account("cobranca")
    grant = client.post(
        f"{op_url}/access",
        data={"account_id": [str(first)], "csrf_token": token},
        follow_redirects=False,
    )
    assert grant.status_code == 303
    bad = client.post(f"{op_url}/access", data={"account_id": ["999999"], "csrf_token": token})
    assert bad.status_code == 422
    operator = web()
    login(operator, "op@example.com")
    dashboard = operator.get("/ui/")
    assert (
        'data-account="vendas"' in dashboard.text
        and 'data-account="cobranca"' not in dashboard.text
    )
    assert second
    # Disabling ends the operator's session at once.
    client.post(f"{op_url}/status", data={"disabled": "true", "csrf_token": token})
    assert operator.get("/ui/", follow_redirects=False).status_code == 303


def test_language_from_browser_cookie_and_setting(
    web: Callable[[], TestClient], make_user: Callable[..., Made], runtime: Runtime, tenant_id: int
) -> None:
    make_user("ana@example.com")
    client = web()
    assert '<html lang="pt-BR">' in client.get("/ui/login").text
    english = client.get("/ui/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.text and ">Log in<" in english.text
    switched = client.post(
        "/ui/lang",
        data={"locale": "en", "next": "/ui/login", "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )
    assert switched.headers["location"] == "/ui/login"
    assert ">Log in<" in client.get("/ui/login", headers={"Accept-Language": "pt-BR"}).text
    # Logged in, the switch saves the person's setting, which wins over cookie and browser.
    login(client, "ana@example.com")
    client.post("/ui/lang", data={"locale": "pt_BR", "csrf_token": csrf_of(client)})
    client.cookies.set("carteiro_lang", "en")
    page = client.get("/ui/", headers={"Accept-Language": "en"})
    assert "Painel" in page.text
    bad = client.post("/ui/lang", data={"locale": "xx", "csrf_token": csrf_of(client)})
    assert bad.status_code == 422


def test_audit_page_filters_and_keeps_them_in_the_pager(
    as_user: Callable[..., TestClient], runtime: Runtime, tenant_id: int
) -> None:
    client = as_user("admin")
    with runtime.db.session() as session:
        for i in range(60):
            audit.record(session, tenant_id=tenant_id, user_id=None, action="export", target_id=i)
    page = client.get("/ui/admin/audit?action=export")
    assert page.status_code == 200
    assert page.text.count('data-action="export"') == 50
    assert 'href="/ui/admin/audit?action=export&amp;offset=50"' in page.text
    rest = client.get("/ui/admin/audit?action=export&offset=50")
    assert rest.text.count('data-action="export"') == 10
    none = client.get("/ui/admin/audit?action=export&since=2999-01-01")
    assert "Nada corresponde a estes filtros." in none.text
    bad = client.get("/ui/admin/audit?since=yesterday")
    assert bad.status_code == 422 and "since" in bad.text
