"""What a key may do with keys and with other keys' mail: subsets, visibility, idempotency."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from carteiro.outbound.models import Email, EmailEvent
from carteiro.runtime import Runtime

MakeKey = Callable[..., str]
MSG = {"to_email": "ana@example.com", "subject": "Olá", "body": "Corpo"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create_key(client: TestClient, headers: dict[str, str] | None = None, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/keys", json={"name": "k", **body}, headers=headers)


def test_new_keys_default_to_send_and_read_and_refuse_no_scopes(client: TestClient) -> None:
    made = create_key(client, allowed_recipients=["*@example.com"], review_mode=True)
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == ["emails:send", "emails:read"]
    agent = bearer(made.json()["key"])
    # Without admin the agent can neither mint a key nor revoke the operator's.
    assert create_key(client, agent).status_code == 403
    first = next(k for k in client.get("/keys").json() if k["name"] == "first key")
    assert client.delete(f"/keys/{first['id']}", headers=agent).status_code == 403

    empty = create_key(client, scopes=[])
    assert empty.status_code == 422 and empty.json()["field"] == "scopes"


def test_a_restricted_admin_key_creates_only_subsets_of_itself(
    client: TestClient, make_key: MakeKey
) -> None:
    agent = bearer(
        make_key(
            scopes=["*"],
            allowed_recipients=["*@example.com"],
            review_mode=True,
            rate_limit_per_hour=10,
        )
    )
    narrow = {
        "scopes": ["emails:send"],
        "allowed_recipients": ["ana@example.com"],
        "review_mode": True,
        "rate_limit_per_hour": 5,
    }
    assert create_key(client, agent, **narrow).status_code == 201
    for wider, field in [
        ({"allowed_recipients": None}, "allowed_recipients"),
        ({"allowed_recipients": ["*@evil.com"]}, "allowed_recipients"),
        ({"allowed_recipients": ["*@*.example.com"]}, "allowed_recipients"),
        ({"review_mode": False}, "review_mode"),
        ({"rate_limit_per_hour": 11}, "rate_limit_per_hour"),
        ({"rate_limit_per_hour": 0}, "rate_limit_per_hour"),
        ({"rate_limit_per_hour": None}, "rate_limit_per_hour"),  # the default is unlimited
    ]:
        r = create_key(client, agent, **{**narrow, **wider})
        assert r.status_code == 403, (wider, r.text)
        assert r.json()["field"] == field
    # Keys of the tenant: the first key, the agent, the one subset it made.
    assert len(client.get("/keys").json()) == 3


def test_a_key_revokes_only_itself_or_subsets(client: TestClient, make_key: MakeKey) -> None:
    reviewed = make_key(scopes=["*"], review_mode=True)
    keys = {k["name"]: k["id"] for k in client.get("/keys").json()}
    child = create_key(client, bearer(reviewed), review_mode=True).json()
    first = keys["first key"]

    r = client.delete(f"/keys/{first}", headers=bearer(reviewed))
    assert r.status_code == 403 and r.json()["field"] == "review_mode"
    assert client.get("/keys").status_code == 200  # the operator's key still works
    assert client.delete(f"/keys/{child['id']}", headers=bearer(reviewed)).status_code == 200
    # Any key may revoke itself, admin or not.
    plain = make_key(scopes=["emails:read"])
    own = max(k["id"] for k in client.get("/keys").json())
    assert client.delete(f"/keys/{own}", headers=bearer(plain)).status_code == 200
    assert client.get("/emails", headers=bearer(plain)).status_code == 401


def test_a_review_key_cannot_approve_even_through_a_key_it_made(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    reviewed = bearer(make_key(scopes=["*"], review_mode=True))
    made = create_key(client, reviewed, scopes=["*"])
    assert made.status_code == 403  # a key that is not in review mode
    eid = client.post("/emails", json=MSG, headers=reviewed).json()["id"]
    assert client.post(f"/emails/{eid}/approve", headers=reviewed).status_code == 403

    approved = client.post(f"/emails/{eid}/approve")
    assert approved.status_code == 200
    first_id = next(k["id"] for k in client.get("/keys").json() if k["name"] == "first key")
    with runtime.db.session() as session:
        event = session.scalar(
            select(EmailEvent).where(EmailEvent.email_id == eid, EmailEvent.type == "approved")
        )
        assert event is not None and event.detail == {"by": "first key", "key_id": first_id}


def test_idempotency_key_is_per_key_and_checked_after_the_allow_list(
    client: TestClient, make_key: MakeKey
) -> None:
    first = client.post("/emails", json=MSG, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    other = bearer(make_key(allowed_recipients=["*@other.example"]))
    # Same Idempotency-Key, another key: the first message is neither returned nor leaked.
    r = client.post("/emails", json=MSG, headers={**other, "Idempotency-Key": "k-1"})
    assert r.status_code == 403 and r.json()["field"] == "to_email"
    allowed = {**MSG, "to_email": "bob@other.example"}
    r = client.post("/emails", json=allowed, headers={**other, "Idempotency-Key": "k-1"})
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]
    again = client.post("/emails", json=allowed, headers={**other, "Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    repeat = client.post("/emails", json=MSG, headers={"Idempotency-Key": "k-1"})
    assert repeat.status_code == 200 and repeat.json()["id"] == first.json()["id"]


def _dead(runtime: Runtime, *ids: int) -> None:
    with runtime.db.session() as session:
        for email_id in ids:
            email = session.get(Email, email_id)
            assert email is not None
            email.status, email.error_type = "dead", "smtp_4xx"


def test_restricted_keys_see_and_touch_only_their_own_mail(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    operator_mail = client.post("/emails", json=MSG).json()["id"]
    agent = bearer(make_key(scopes=["*"], allowed_recipients=["*@example.com"]))
    own_only = bearer(make_key(scopes=["*"], own_messages_only=True))
    wide = bearer(make_key(scopes=["*"]))
    agent_mail = client.post("/emails", json=MSG, headers=agent).json()["id"]
    _dead(runtime, operator_mail)

    for headers in (agent, own_only):
        for method, path in [
            ("get", f"/emails/{operator_mail}"),
            ("get", f"/emails/{operator_mail}/raw"),
            ("post", f"/emails/{operator_mail}/cancel"),
            ("post", f"/emails/{operator_mail}/retry"),
        ]:
            assert client.request(method, path, headers=headers).status_code == 404, path
        assert client.get("/queue/dead", headers=headers).json()["total"] == 0
        r = client.post("/queue/dead/requeue", json={"ids": [operator_mail]}, headers=headers)
        assert r.json() == {"requeued": 0, "ids": []}
    listed = client.get("/emails", headers=agent).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == agent_mail
    assert client.get("/emails", headers=own_only).json()["total"] == 0
    assert client.get(f"/emails/{agent_mail}/raw", headers=agent).status_code == 200
    # A key without the restriction still sees the tenant's outbox.
    assert client.get("/emails", headers=wide).json()["total"] == 2
    assert client.post(f"/emails/{agent_mail}/cancel", headers=agent).status_code == 200


def test_a_review_key_cannot_requeue_mail(
    client: TestClient, runtime: Runtime, make_key: MakeKey
) -> None:
    reviewed = bearer(make_key(scopes=["*"], review_mode=True))
    operator_mail = client.post("/emails", json=MSG).json()["id"]
    own_mail = client.post("/emails", json=MSG, headers=reviewed).json()["id"]
    _dead(runtime, operator_mail, own_mail)
    assert client.post(f"/emails/{operator_mail}/retry", headers=reviewed).status_code == 404
    assert client.post(f"/emails/{own_mail}/retry", headers=reviewed).status_code == 403
    for body in ({"ids": [operator_mail, own_mail]}, {"error_type": "smtp_4xx"}):
        assert client.post("/queue/dead/requeue", json=body, headers=reviewed).status_code == 403
    with runtime.db.session() as session:
        statuses = session.scalars(
            select(Email.status).where(Email.id.in_([operator_mail, own_mail]))
        )
        assert set(statuses) == {"dead"}


def test_the_keys_list_shows_when_a_key_was_last_used(
    client: TestClient, make_key: MakeKey
) -> None:
    plain = make_key(scopes=["emails:read"])
    before = {k["name"]: k["last_used_at"] for k in client.get("/keys").json()}
    assert before["test"] is None
    assert client.get("/emails", headers=bearer(plain)).status_code == 200
    after = {k["name"]: k for k in client.get("/keys").json()}
    assert after["test"]["last_used_at"] is not None
    assert after["first key"]["last_used_at"] is not None
