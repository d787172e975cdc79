"""Every outbound endpoint, including bad input, tenancy, idempotency and the rate limit."""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Callable

from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.runtime import Runtime

MakeKey = Callable[..., str]
MSG = {"to_email": "ana@example.com", "subject": "Olá", "body": "Corpo"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_create_returns_201_with_public_fields(client: TestClient) -> None:
    r = client.post("/emails", json={**MSG, "cc_emails": "a@example.com, b@example.com"})
    assert r.status_code == 201, r.text
    body = r.json()
    for field in [
        "id",
        "status",
        "to_email",
        "cc_emails",
        "bcc_emails",
        "subject",
        "priority",
        "scheduled_at",
        "sent_at",
        "created_at",
        "updated_at",
        "retry_count",
        "max_retries",
        "error_message",
        "message_id",
        "account",
    ]:
        assert field in body
    assert body["to_email"] == "ana@example.com"
    assert body["cc_emails"] == ["a@example.com", "b@example.com"]
    assert body["status"] == "pending" and body["account"] == "capture"
    assert body["priority"] == "normal" and body["max_retries"] == 3
    assert body["message_id"].startswith("<") and body["message_id"].endswith(">")


def test_raw_is_valid_mime_with_attachment_and_alternative(client: TestClient) -> None:
    pdf = b"%PDF-1.4 fake \x00\xff bytes"
    r = client.post(
        "/emails",
        json={
            **MSG,
            "subject": "Relatório — ação",
            "html_body": "<p>Olá</p>",
            "reply_to": "suporte@example.com",
            "headers": {"X-Campaign": "nov"},
            "attachments": [
                {
                    "filename": "relatório março.pdf",
                    "content_type": "application/pdf",
                    "content_base64": b64(pdf),
                }
            ],
        },
    )
    assert r.status_code == 201, r.text
    raw = client.get(f"/emails/{r.json()['id']}/raw")
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("message/rfc822")
    msg = email.message_from_bytes(raw.content, policy=email.policy.default)
    assert msg["Subject"] == "Relatório — ação"
    assert msg["Message-ID"] == r.json()["message_id"]
    assert msg["Reply-To"] == "suporte@example.com" and msg["X-Campaign"] == "nov"
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(preferencelist=("html",))
    assert body is not None and "Olá" in body.get_content()
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "relatório março.pdf"
    assert att.get_content() == pdf


def test_get_and_list_with_pagination_and_filter(client: TestClient) -> None:
    ids = [client.post("/emails", json=MSG).json()["id"] for _ in range(3)]
    r = client.get("/emails", params={"limit": 2, "offset": 0})
    page = r.json()
    assert page["total"] == 3 and page["limit"] == 2 and len(page["items"]) == 2
    assert [i["id"] for i in page["items"]] == sorted(ids, reverse=True)[:2]
    assert (
        client.get("/emails", params={"limit": 2, "offset": 2}).json()["items"][0]["id"] == ids[0]
    )
    assert client.get("/emails", params={"status": "sent"}).json()["total"] == 0
    one = client.get(f"/emails/{ids[0]}").json()
    assert one["id"] == ids[0] and one["attempts"] == []
    assert client.get("/emails", params={"limit": 501}).status_code == 422
    assert client.get("/emails", params={"status": "weird"}).status_code == 422


def test_idempotency_key_returns_the_first_message(client: TestClient) -> None:
    first = client.post("/emails", json=MSG, headers={"Idempotency-Key": "abc-1"})
    again = client.post(
        "/emails", json={**MSG, "subject": "other"}, headers={"Idempotency-Key": "abc-1"}
    )
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["subject"] == "Olá"
    assert client.get("/emails").json()["total"] == 1


def test_cancel_retry_and_conflicts(client: TestClient, runtime: Runtime) -> None:
    from carteiro.outbound.models import Email

    eid = client.post("/emails", json=MSG).json()["id"]
    assert client.post(f"/emails/{eid}/retry").status_code == 409
    r = client.post(f"/emails/{eid}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert client.post(f"/emails/{eid}/cancel").status_code == 409
    with runtime.db.session() as session:
        session.get(Email, eid).status = "dead"  # type: ignore[union-attr]
    r = client.post(f"/emails/{eid}/retry")
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["retry_count"] == 0


def test_batch_accepts_list_and_object_all_or_nothing(client: TestClient) -> None:
    r = client.post("/emails/batch", json=[MSG, {**MSG, "to_email": "b@example.com"}])
    assert r.status_code == 202 and len(r.json()["ids"]) == 2
    r = client.post("/emails/batch", json={"emails": [MSG]})
    assert r.status_code == 202 and len(r.json()["ids"]) == 1
    bad = client.post("/emails/batch", json=[MSG, {**MSG, "to_email": "nope"}])
    assert bad.status_code == 422 and bad.json()["field"] == "emails[1].to_email"
    missing = client.post("/emails/batch", json=[MSG, {"to_email": "x@example.com"}])
    assert missing.status_code == 422 and missing.json()["field"].startswith("emails[1].")
    assert client.get("/emails").json()["total"] == 3
    too_many = client.post("/emails/batch", json=[MSG] * 1001)
    assert too_many.status_code == 413
    assert client.get("/emails").json()["total"] == 3


def test_bad_input_names_the_field(client: TestClient) -> None:
    cases = [
        ({**MSG, "to_email": "not-an-address"}, 422, "to_email"),
        ({**MSG, "cc_emails": ["ok@example.com", "bad@"]}, 422, "cc_emails[1]"),
        ({**MSG, "subject": "Hi\r\nBcc: victim@example.com"}, 422, "subject"),
        ({**MSG, "headers": {"X-Evil": "a\nb"}}, 422, "X-Evil"),
        ({**MSG, "headers": {"Orig-Date": "x", "orig-date": "y"}}, 422, "headers"),
        ({"subject": "s", "body": "b"}, 422, "to_email"),
        ({**MSG, "subject": "x" * 501}, 422, "subject"),
        ({**MSG, "priority": "asap"}, 422, "priority"),
        ({**MSG, "scheduled_at": "2030-01-01T10:00:00"}, 422, "scheduled_at"),
        ({**MSG, "account": "ghost"}, 422, "account"),
        (
            {
                **MSG,
                "attachments": [
                    {
                        "filename": "a.txt",
                        "content_type": "text/plain",
                        "content_base64": "%%%not base64",
                    }
                ],
            },
            422,
            "attachments[0]",
        ),
    ]
    for payload, status, field in cases:
        r = client.post("/emails", json=payload)
        assert r.status_code == status, (payload, r.text)
        assert field in r.json()["field"], (field, r.json())
        assert r.json()["message"]
    assert client.get("/emails").json()["total"] == 0


def test_oversized_attachment_is_413(runtime: Runtime, api_key: str) -> None:
    runtime.settings = runtime.settings.model_copy(update={"max_attachment_bytes": 1000})
    with TestClient(create_app(runtime, run_worker=False)) as c:
        r = c.post(
            "/emails",
            headers={"Authorization": f"Bearer {api_key}"},
            json={
                **MSG,
                "attachments": [{"filename": "big.bin", "content_base64": b64(b"x" * 1001)}],
            },
        )
        assert r.status_code == 413 and r.json()["field"] == "attachments[0]"


def test_auth_errors(client: TestClient, make_key: MakeKey) -> None:
    assert client.post("/emails", json=MSG, headers={"Authorization": ""}).status_code == 401
    r = client.get("/emails", headers={"Authorization": "Bearer ct_wrong"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    reader = make_key(scopes=["emails:read"])
    r = client.post("/emails", json=MSG, headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and "emails:send" in r.json()["message"]
    assert client.get("/emails", headers={"Authorization": f"Bearer {reader}"}).status_code == 200


def test_another_tenants_email_is_404(client: TestClient, make_key: MakeKey) -> None:
    eid = client.post("/emails", json=MSG).json()["id"]
    other = {"Authorization": f"Bearer {make_key('acme')}"}
    for method, path in [
        ("get", f"/emails/{eid}"),
        ("get", f"/emails/{eid}/raw"),
        ("post", f"/emails/{eid}/cancel"),
        ("post", f"/emails/{eid}/retry"),
    ]:
        assert client.request(method, path, headers=other).status_code == 404
    assert client.get("/emails", headers=other).json()["total"] == 0
    assert client.get(f"/emails/{eid}").status_code == 200


def test_hourly_rate_limit_is_429_with_retry_after(client: TestClient, make_key: MakeKey) -> None:
    limited = {"Authorization": f"Bearer {make_key(rate_limit_per_hour=3)}"}
    for _ in range(3):
        assert client.post("/emails", json=MSG, headers=limited).status_code == 201
    r = client.post("/emails", json=MSG, headers=limited)
    assert r.status_code == 429
    assert "Limite de emails por hora excedido" in r.json()["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 3600
    assert client.post("/emails/batch", json=[MSG], headers=limited).status_code == 429
    # Another key of the same tenant has its own budget.
    assert client.post("/emails", json=MSG).status_code == 201


def test_default_hourly_limit_comes_from_settings(runtime: Runtime, api_key: str) -> None:
    runtime.settings = runtime.settings.model_copy(update={"email_rate_limit_per_hour": 2})
    with TestClient(create_app(runtime, run_worker=False)) as c:
        h = {"Authorization": f"Bearer {api_key}"}
        assert [c.post("/emails", json=MSG, headers=h).status_code for _ in range(3)] == [
            201,
            201,
            429,
        ]


def test_allow_list_and_review_mode(client: TestClient, make_key: MakeKey) -> None:
    key = make_key(allowed_recipients=["*@example.com"], review_mode=True)
    agent = {"Authorization": f"Bearer {key}"}
    r = client.post("/emails", json={**MSG, "to_email": "x@evil.com"}, headers=agent)
    assert r.status_code == 403 and "allow-list" in r.json()["message"]
    r = client.post("/emails", json={**MSG, "bcc_emails": "spy@evil.com"}, headers=agent)
    assert r.status_code == 403
    r = client.post("/emails", json=MSG, headers=agent)
    assert r.status_code == 201 and r.json()["status"] == "held"
    eid = r.json()["id"]
    assert client.post(f"/emails/{eid}/approve", headers=agent).status_code == 403
    approved = client.post(f"/emails/{eid}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "pending"
    assert client.post(f"/emails/{eid}/approve").status_code == 409


def test_seed_mcp_payload(client: TestClient) -> None:
    r = client.post(
        "/emails/mcp",
        json={
            "to": "equipe@empresa.com",
            "subject": "Reunião Semanal",
            "body": "Pauta",
            "cc": ["x@empresa.com"],
            "priority": "high",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["to_email"] == "equipe@empresa.com" and r.json()["priority"] == "high"
    assert r.json()["source"] == "mcp"


def test_channel_send_waits_for_the_worker(runtime: Runtime, api_key: str) -> None:
    with TestClient(create_app(runtime, run_worker=True)) as c:
        h = {"Authorization": f"Bearer {api_key}"}
        r = c.post(
            "/mcp/email/send",
            headers=h,
            json={
                "to": "lead@example.com",
                "subject": "Olá {{nome}}",
                "body": "Oi {{nome}}",
                "html": "<b>{{nome}}</b>",
                "variables": {"nome": "<Ana>"},
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "sent" and body["messageId"].startswith("<")
        raw = c.get(f"/emails/{body['id']}/raw", headers=h).content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["Subject"] == "Olá <Ana>"
        html = msg.get_body(preferencelist=("html",))
        assert html is not None and "&lt;Ana&gt;" in html.get_content()
        missing = c.post(
            "/mcp/email/send",
            headers=h,
            json={"to": "a@example.com", "subject": "{{x}}", "body": "b", "variables": {"y": 1}},
        )
        assert missing.status_code == 422 and missing.json()["field"] == "subject"
        queued = c.post(
            "/mcp/email/send?wait=0",
            headers=h,
            json={"to": "a@example.com", "subject": "s", "body": "b"},
        )
        assert queued.json()["status"] in {"queued", "sent"}


def test_end_to_end_capture_with_embedded_worker(runtime: Runtime, api_key: str) -> None:
    import time

    with TestClient(create_app(runtime, run_worker=True)) as c:
        h = {"Authorization": f"Bearer {api_key}"}
        eid = c.post("/emails", json=MSG, headers=h).json()["id"]
        for _ in range(200):
            if c.get(f"/emails/{eid}", headers=h).json()["status"] == "sent":
                break
            time.sleep(0.05)
        got = c.get(f"/emails/{eid}", headers=h).json()
        assert got["status"] == "sent" and got["attempts"][0]["account"] == "capture"
        assert got["attempts"][0]["smtp_code"] == 250
        assert (runtime.settings.data_dir / "captured").is_dir()
