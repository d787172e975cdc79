"""Custom headers and attachment names through POST /emails: refused with the field named."""

from __future__ import annotations

from fastapi.testclient import TestClient

MSG = {"to_email": "ana@example.com", "subject": "Olá", "body": "Corpo"}


def test_trace_headers_are_422(client: TestClient) -> None:
    for name in ["Received", "Authentication-Results", "DKIM-Signature", "ARC-Seal", "Return-Path"]:
        r = client.post("/emails", json={**MSG, "headers": {name: "forged"}})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "headers" and name in r.json()["message"]
    assert client.get("/emails").json()["total"] == 0


def test_bidi_file_names_are_422_naming_the_attachment(client: TestClient) -> None:
    attachments = [
        {"filename": "ok.txt", "content_type": "text/plain", "content_base64": "QUJD"},
        {"filename": "fatura\u202efdp.exe", "content_type": "text/plain", "content_base64": "QUJD"},
    ]
    r = client.post("/emails", json={**MSG, "attachments": attachments})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "attachments[1].filename"
    batch = client.post("/emails/batch", json=[{**MSG, "attachments": attachments}])
    assert batch.status_code == 422 and batch.json()["field"] == "emails[0].attachments[1].filename"
    assert client.get("/emails").json()["total"] == 0
