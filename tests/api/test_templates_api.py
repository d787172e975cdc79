"""Templates sent through the API are rendered within budgets: over budget is a 422."""

from __future__ import annotations

from fastapi.testclient import TestClient

NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


def test_channel_send_answers_422_for_an_expensive_template(client: TestClient) -> None:
    for field, payload in [
        ("body", {"body": NESTED}),
        ("subject", {"subject": "{{ 'a' * 50000000 }}", "body": "ok"}),
        ("html", {"body": "ok", "html": "{{ 'a'.ljust(50000000) }}"}),
    ]:
        r = client.post(
            "/mcp/email/send?wait=0",
            json={"to": "a@example.com", "subject": "s", "variables": {"n": 1}, **payload},
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field and "template is refused" in r.json()["message"]
    assert client.get("/emails").json()["total"] == 0
