"""The outbox pages: the list and its filters, a message's story, cancel, retry, approve and
reject, and the dead-letter requeue, each limited by role and by the mailboxes a person sees."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from webkit import csrf_of

from carteiro.accounts import service as accounts
from carteiro.accounts.schemas import AccountCreate, SmtpIn
from carteiro.outbound import service as outbound
from carteiro.outbound.models import Email
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.audit import AuditEntry
from carteiro.tenancy.service import Principal


def _account(runtime: Runtime, tenant_id: int, name: str) -> int:
    data = AccountCreate(
        name=name,
        email=f"{name}@empresa.com.br",
        smtp=SmtpIn(host="smtp.empresa.com.br", username=name, password="x"),
    )
    with runtime.db.session() as session:
        return accounts.create(session, tenant_id=tenant_id, data=data, vault=runtime.vault).id


def _email(
    runtime: Runtime, principal: Principal, *, subject: str, to: str, account: int | None
) -> int:
    data = EmailCreate(to_email=to, subject=subject, body="Olá", account=account)
    with runtime.db.session() as session:
        email, _ = outbound.create(
            session, principal=principal, data=data, settings=runtime.settings
        )
        return email.id


def _set(runtime: Runtime, email_id: int, **values: object) -> None:
    with runtime.db.session() as session:
        email = session.get_one(Email, email_id)
        for k, v in values.items():
            setattr(email, k, v)


def _status(runtime: Runtime, email_id: int) -> str:
    with runtime.db.session() as session:
        return session.get_one(Email, email_id).status


def _audited(runtime: Runtime, action: str) -> list[str | None]:
    with runtime.db.session() as session:
        stmt = select(AuditEntry.target_id).where(AuditEntry.action == action)
        return list(session.scalars(stmt))


@pytest.fixture
def two_accounts(runtime: Runtime, principal: Principal) -> tuple[int, int]:
    return _account(runtime, principal.tenant_id, "vendas"), _account(
        runtime, principal.tenant_id, "cobranca"
    )


def _post(client: TestClient, url: str, data: dict[str, object] | None = None) -> object:
    return client.post(
        url, data={**(data or {}), "csrf_token": csrf_of(client)}, follow_redirects=False
    )


def test_the_list_filters_by_status_and_search_and_keeps_them_in_the_links(
    runtime: Runtime,
    principal: Principal,
    as_user: Callable[..., TestClient],
    two_accounts: tuple[int, int],
) -> None:
    sales, _ = two_accounts
    first = _email(
        runtime, principal, subject="Proposta comercial", to="ana@cliente.com.br", account=sales
    )
    _email(runtime, principal, subject="Boleto de março", to="bruno@cliente.com.br", account=sales)
    _set(runtime, first, status="sent")
    client = as_user("viewer", grants=(sales,))
    page = client.get("/ui/outbox")
    assert page.status_code == 200, page.text
    assert "Proposta comercial" in page.text and "Boleto de março" in page.text
    found = client.get("/ui/outbox", params={"q": "ANA@cliente"})
    assert "Proposta comercial" in found.text and "Boleto de março" not in found.text
    sent = client.get("/ui/outbox", params={"status": "sent"})
    assert "Proposta comercial" in sent.text and "Boleto de março" not in sent.text
    nothing = client.get("/ui/outbox", params={"q": "100%_"})
    assert "Nenhuma mensagem" in nothing.text or "No message matches" in nothing.text
    bad = client.get("/ui/outbox", params={"status": "lost"})
    assert bad.status_code == 422 and "status" in bad.text


def test_a_person_sees_only_the_mail_of_the_mailboxes_granted(
    runtime: Runtime,
    principal: Principal,
    as_user: Callable[..., TestClient],
    two_accounts: tuple[int, int],
) -> None:
    sales, billing = two_accounts
    mine = _email(runtime, principal, subject="De vendas", to="a@cliente.com.br", account=sales)
    other = _email(
        runtime, principal, subject="De cobrança", to="b@cliente.com.br", account=billing
    )
    client = as_user("operator", grants=(sales,))
    page = client.get("/ui/outbox")
    assert "De vendas" in page.text and "De cobrança" not in page.text
    assert client.get(f"/ui/outbox/{mine}").status_code == 200
    assert client.get(f"/ui/outbox/{other}").status_code == 404
    assert client.get(f"/ui/outbox/{other}/raw").status_code == 404
    assert _post(client, f"/ui/outbox/{other}/cancel").status_code == 404  # type: ignore[attr-defined]
    assert _status(runtime, other) == "pending"


def test_the_message_page_tells_its_story_and_serves_the_source_as_text(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    email_id = _email(runtime, principal, subject="<b>Oi</b>", to="c@cliente.com.br", account=None)
    client = as_user("admin")  # captured mail (no account) is for those who see every mailbox
    page = client.get(f"/ui/outbox/{email_id}")
    assert page.status_code == 200
    assert "&lt;b&gt;Oi&lt;/b&gt;" in page.text  # the subject is escaped, not markup
    assert 'data-event="queued"' in page.text
    raw = client.get(f"/ui/outbox/{email_id}/raw")
    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert b"Subject:" in raw.content
    assert client.get("/ui/outbox/999999").status_code == 404


def test_a_viewer_cannot_cancel_and_an_operator_can(
    runtime: Runtime,
    principal: Principal,
    as_user: Callable[..., TestClient],
    two_accounts: tuple[int, int],
) -> None:
    sales, _ = two_accounts
    email_id = _email(
        runtime, principal, subject="Cancelável", to="d@cliente.com.br", account=sales
    )
    viewer = as_user("viewer", grants=(sales,))
    assert "/cancel" not in viewer.get(f"/ui/outbox/{email_id}").text
    assert _post(viewer, f"/ui/outbox/{email_id}/cancel").status_code == 403  # type: ignore[attr-defined]
    assert _status(runtime, email_id) == "pending"
    operator = as_user("operator", grants=(sales,))
    done = _post(operator, f"/ui/outbox/{email_id}/cancel")
    assert done.status_code == 303  # type: ignore[attr-defined]
    assert _status(runtime, email_id) == "cancelled"
    assert _audited(runtime, "cancel") == [str(email_id)]
    again = _post(operator, f"/ui/outbox/{email_id}/cancel")
    assert again.status_code == 409  # type: ignore[attr-defined]


def test_a_form_without_the_csrf_token_changes_nothing(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    email_id = _email(runtime, principal, subject="Protegida", to="e@cliente.com.br", account=None)
    operator = as_user("admin")
    refused = operator.post(f"/ui/outbox/{email_id}/cancel", follow_redirects=False)
    assert refused.status_code == 403
    assert _status(runtime, email_id) == "pending"


def test_held_mail_is_approved_or_rejected_from_the_held_tab(
    runtime: Runtime, principal: Principal, as_user: Callable[..., TestClient]
) -> None:
    keep = _email(runtime, principal, subject="Aprovar esta", to="f@cliente.com.br", account=None)
    drop = _email(runtime, principal, subject="Rejeitar esta", to="g@cliente.com.br", account=None)
    _set(runtime, keep, status="held")
    _set(runtime, drop, status="held")
    operator = as_user("admin")
    held = operator.get("/ui/queue", params={"tab": "held"})
    assert "Aprovar esta" in held.text and "Rejeitar esta" in held.text
    approved = _post(operator, f"/ui/outbox/{keep}/approve", {"back": "held"})
    assert approved.headers["location"].startswith("/ui/queue?tab=held")  # type: ignore[attr-defined]
    rejected = _post(operator, f"/ui/outbox/{drop}/cancel", {"back": "https://evil.example"})
    assert rejected.headers["location"] == f"/ui/outbox/{drop}?notice=rejected"  # type: ignore[attr-defined]
    assert (_status(runtime, keep), _status(runtime, drop)) == ("pending", "cancelled")
    assert _audited(runtime, "approve") == [str(keep)]
    assert _audited(runtime, "reject") == [str(drop)]
    assert "Aprovar esta" not in operator.get("/ui/queue", params={"tab": "held"}).text


def test_dead_letters_are_requeued_by_id_or_by_error_type_within_the_mailboxes_granted(
    runtime: Runtime,
    principal: Principal,
    as_user: Callable[..., TestClient],
    two_accounts: tuple[int, int],
) -> None:
    sales, billing = two_accounts
    ids = [
        _email(runtime, principal, subject=f"Morta {n}", to=f"m{n}@cliente.com.br", account=acct)
        for n, acct in enumerate((sales, sales, sales, billing))
    ]
    for n, email_id in enumerate(ids):
        _set(runtime, email_id, status="dead", error_type="auth" if n else "timeout")
    operator = as_user("operator", grants=(sales,))
    page = operator.get("/ui/queue")
    assert "Morta 0" in page.text and "Morta 3" not in page.text
    assert "auth (2)" in page.text  # only the granted account's dead letters are counted
    assert _post(operator, "/ui/queue/requeue").status_code == 422  # type: ignore[attr-defined]
    by_id = _post(operator, "/ui/queue/requeue", {"ids": [ids[0], ids[3]]})
    assert by_id.status_code == 303  # type: ignore[attr-defined]
    assert [_status(runtime, i) for i in ids] == ["pending", "dead", "dead", "dead"]
    by_type = _post(operator, "/ui/queue/requeue", {"error_type": "auth"})
    assert "requeued=2" in by_type.headers["location"]  # type: ignore[attr-defined]
    assert [_status(runtime, i) for i in ids] == ["pending", "pending", "pending", "dead"]
    assert sorted(_audited(runtime, "requeue")) == sorted(str(i) for i in ids[:3])
    viewer = as_user("viewer", email="v2@example.com")
    assert _post(viewer, "/ui/queue/requeue", {"error_type": "auth"}).status_code == 403  # type: ignore[attr-defined]
