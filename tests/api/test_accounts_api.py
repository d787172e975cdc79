"""Accounts over the API: CRUD, write-only encrypted passwords, a real login test, tenancy."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from carteiro.accounts.models import Account
from carteiro.runtime import Runtime
from carteiro.testing.smtp_server import SmtpSink

MakeKey = Callable[..., str]


def account_body(sink: SmtpSink, **overrides: object) -> dict:
    body: dict = {
        "name": "vendas",
        "email": "vendas@example.com",
        "display_name": "Equipe de Vendas",
        "smtp": {
            "host": sink.hostname,
            "port": sink.port,
            "security": "starttls",
            "username": "user",
            "password": "secret",
            "ca_file": str(sink.cert_path),
        },
        "limits": {"per_minute": 30, "per_hour": 500, "per_day": 2000, "max_connections": 3},
    }
    body.update(overrides)
    return body


def test_crud_and_password_never_returned(
    client: TestClient, runtime: Runtime, sink: SmtpSink
) -> None:
    r = client.post("/accounts", json=account_body(sink))
    assert r.status_code == 201, r.text
    created = r.json()
    assert "secret" not in r.text and "password" not in created["smtp"]
    assert created["smtp"]["has_password"] is True and created["status"] == "active"
    assert created["limits"]["per_minute"] == 30
    with runtime.db.session() as session:
        stored = session.scalar(select(Account.smtp_password_enc))
    assert stored and "secret" not in stored
    assert runtime.vault.decrypt(stored) == "secret"

    listed = client.get("/accounts").json()
    assert [a["name"] for a in listed] == ["vendas"]
    assert listed[0]["usage"]["minute"] == {"limit": 30, "used": 0, "remaining": 30}
    one = client.get(f"/accounts/{created['id']}").json()
    # The smallest window's remainder; connections are slots workers hold, none yet.
    assert one["usage"]["remaining_now"] == 30
    assert one["usage"]["connections"] == 0 and one["usage"]["max_connections"] == 3

    patched = client.patch(
        f"/accounts/{created['id']}", json={"display_name": "Vendas", "status": "paused"}
    )
    assert patched.status_code == 200
    assert patched.json()["display_name"] == "Vendas" and patched.json()["status"] == "paused"
    assert client.post("/accounts", json=account_body(sink)).status_code == 409
    assert client.delete(f"/accounts/{created['id']}").status_code == 204
    assert client.get(f"/accounts/{created['id']}").status_code == 404


def test_login_test_really_connects(client: TestClient, sink: SmtpSink) -> None:
    good = client.post("/accounts", json=account_body(sink)).json()
    r = client.post(f"/accounts/{good['id']}/test")
    assert r.status_code == 200 and r.json()["ok"] is True
    assert sink.logins >= 1
    bad_body = account_body(sink, name="errada")
    bad_body["smtp"] = {**bad_body["smtp"], "password": "wrong"}
    bad = client.post("/accounts", json=bad_body).json()
    r = client.post(f"/accounts/{bad['id']}/test")
    assert r.status_code == 200 and r.json()["ok"] is False
    assert r.json()["error_type"] == "auth" and "refused the login" in r.json()["detail"]


def test_account_validation(client: TestClient, sink: SmtpSink) -> None:
    cases = [
        (account_body(sink, email="not-an-email"), "email"),
        (account_body(sink, smtp={"host": "h", "security": "tls"}), "smtp.security"),
        (account_body(sink, smtp={"host": "h", "port": 70000}), "smtp.port"),
        (account_body(sink, smtp={"host": "h", "ca_file": "/nope/ca.pem"}), "smtp.ca_file"),
        (account_body(sink, limits={"per_minute": 0}), "limits.per_minute"),
        (account_body(sink, warmup={"start": 5}), "warmup.target"),
        (account_body(sink, name="a\nb"), "name"),
    ]
    for body, field in cases:
        r = client.post("/accounts", json=body)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["field"] == field, r.json()
    assert client.get("/accounts").json() == []


def test_sending_through_a_named_account(client: TestClient, sink: SmtpSink) -> None:
    client.post("/accounts", json=account_body(sink))
    r = client.post(
        "/emails",
        json={"to_email": "a@example.com", "subject": "s", "body": "b", "account": "vendas"},
    )
    assert r.status_code == 201 and r.json()["account"] == "vendas"
    assert r.json()["from_email"] == "vendas@example.com"
    raw = client.get(f"/emails/{r.json()['id']}/raw").content
    assert b"Equipe de Vendas" in raw or b"=?utf-8?" in raw


def test_other_tenants_accounts_are_invisible(
    client: TestClient, sink: SmtpSink, make_key: MakeKey
) -> None:
    created = client.post("/accounts", json=account_body(sink)).json()
    other = {"Authorization": f"Bearer {make_key('acme')}"}
    assert client.get("/accounts", headers=other).json() == []
    for method, path in [
        ("get", f"/accounts/{created['id']}"),
        ("patch", f"/accounts/{created['id']}"),
        ("delete", f"/accounts/{created['id']}"),
        ("post", f"/accounts/{created['id']}/test"),
    ]:
        kwargs = {"json": {"weight": 2}} if method == "patch" else {}
        assert client.request(method, path, headers=other, **kwargs).status_code == 404
    r = client.post(
        "/emails",
        headers=other,
        json={"to_email": "a@example.com", "subject": "s", "body": "b", "account": "vendas"},
    )
    assert r.status_code == 422 and r.json()["field"] == "account"


def test_account_with_queued_mail_cannot_be_deleted(client: TestClient, sink: SmtpSink) -> None:
    created = client.post("/accounts", json=account_body(sink)).json()
    client.post(
        "/emails",
        json={"to_email": "a@example.com", "subject": "s", "body": "b", "account": "vendas"},
    )
    r = client.delete(f"/accounts/{created['id']}")
    assert r.status_code == 409 and "queued" in r.json()["message"]


def test_gmail_account_from_environment(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"gmail_email": "voce@gmail.com", "gmail_app_password": "abcd efgh ijkl mnop"}
    )
    runtime.bootstrap()
    runtime.settings = runtime.settings.model_copy(
        update={"gmail_app_password": "qrst uvwx yzab cdef"}
    )
    runtime.bootstrap()
    with runtime.db.session() as session:
        (account,) = session.scalars(select(Account)).all()
        assert (account.name, account.smtp_host, account.smtp_port) == (
            "gmail",
            "smtp.gmail.com",
            587,
        )
        assert account.smtp_security == "starttls" and account.smtp_username == "voce@gmail.com"
        assert runtime.vault.decrypt(account.smtp_password_enc or "") == "qrstuvwxyzabcdef"
