"""Automatic replies: once per thread, from a template, never into a loop or to old mail."""

from __future__ import annotations

import email
import email.policy
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from carteiro.api.app import create_app
from carteiro.db import migrate
from carteiro.db.engine import Database
from carteiro.errors import InvalidInput
from carteiro.inbound import rules
from carteiro.inbound.models import InboxAutoReply, InboxRule
from carteiro.inbound.schemas import RuleCreate, SyncReport
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.models import ApiKey
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from conftest import MailFactory


@pytest.fixture
def rule(runtime: Runtime, principal: Principal) -> int:
    with runtime.db.session() as session:
        return rules.create(
            session,
            principal=principal,
            data=RuleCreate(
                name="recebemos",
                match={"subject": ["orçamento", "proposta"]},
                body="Olá {{ sender_name }}, recebemos sua mensagem sobre {{ subject }}.",
            ),
        ).id


def _auto_replies(runtime: Runtime) -> list[Email]:
    with runtime.db.session() as session:
        ids = session.scalars(select(InboxAutoReply.email_id).order_by(InboxAutoReply.id)).all()
        found = [e for e in (session.get(Email, i) for i in ids) if e is not None]
        for e in found:
            _ = (e.body, e.raw)  # deferred columns, loaded while the session is open
        return found


def test_answers_once_per_thread_from_the_template(
    runtime: Runtime,
    rule: int,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    dovecot.append(
        "INBOX",
        mail(subject="Pedido de orçamento", sender="Ana <ana@cliente.com.br>", message_id="<q1@c>"),
    )
    dovecot.append("INBOX", mail(subject="Outro assunto", sender="bia@cliente.com.br"))
    report = sync()
    assert report.auto_replies == 1
    (answer,) = _auto_replies(runtime)
    assert answer.to_emails == ["ana@cliente.com.br"]
    assert answer.subject == "Re: Pedido de orçamento"
    assert answer.body.startswith("Olá Ana, recebemos sua mensagem sobre Pedido de orçamento.")
    headers = email.message_from_bytes(answer.raw, policy=email.policy.default)
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["In-Reply-To"] == "<q1@c>"

    # The customer writes again in the same thread: no second automatic answer.
    dovecot.append(
        "INBOX",
        mail(
            subject="Re: Pedido de orçamento",
            sender="ana@cliente.com.br",
            in_reply_to="<q1@c>",
            references="<q1@c>",
        ),
    )
    assert sync().auto_replies == 0
    assert len(_auto_replies(runtime)) == 1


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        ("ana@cliente.com.br", {"Auto-Submitted": "auto-replied"}),
        ("ana@cliente.com.br", {"Precedence": "bulk"}),
        ("ana@cliente.com.br", {"List-Id": "<vendas.lista.example>"}),
        ("ana@cliente.com.br", {"X-Auto-Response-Suppress": "OOF, AutoReply"}),
        ("noreply@cliente.com.br", {}),
        ("inbox@example.com", {}),
    ],
)
def test_loop_protection(
    runtime: Runtime,
    rule: int,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
    sender: str,
    headers: dict[str, str],
) -> None:
    dovecot.append("INBOX", mail(subject="Proposta", sender=sender, headers=headers))
    assert sync().auto_replies == 0
    assert _auto_replies(runtime) == []


def test_mail_older_than_the_rule_and_other_folders_are_left_alone(
    runtime: Runtime,
    rule: int,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    dovecot.append("INBOX", mail(subject="Proposta antiga"), date=yesterday)
    dovecot.append("Junk", mail(subject="Proposta imperdível"))
    assert sync().auto_replies == 0


def test_rules_are_validated(runtime: Runtime, principal: Principal) -> None:
    with runtime.db.session() as session:
        with pytest.raises(InvalidInput) as bad_key:
            rules.create(
                session,
                principal=principal,
                data=RuleCreate(name="x", match={"to": "a"}, body="oi"),
            )
        assert bad_key.value.field == "match"
        with pytest.raises(InvalidInput) as bad_template:
            rules.create(
                session,
                principal=principal,
                data=RuleCreate(name="x", body="Olá {{ nome "),
            )
        assert bad_template.value.field == "body"


@pytest.fixture
def api(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, run_worker=False)) as client:
        yield client


def _key(runtime: Runtime, **options: object) -> tuple[int, str]:
    with runtime.db.session() as session:
        tenant = tenancy.get_tenant_by_slug_or_raise(session, slug=tenancy.DEFAULT_TENANT)
        key, plain = tenancy.create_key(session, tenant_id=tenant.id, name="agent", **options)  # type: ignore[arg-type]
        return key.id, plain


def _rule_by(api: TestClient, plain: str) -> dict[str, Any]:
    r = api.post(
        "/inbox/rules",
        json={"name": "ack", "match": {"subject": "proposta"}, "body": "Recebido."},
        headers={"Authorization": f"Bearer {plain}"},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _rule_row(runtime: Runtime, rule_id: int) -> InboxRule:
    with runtime.db.session() as session:
        row = session.get(InboxRule, rule_id)
        assert row is not None
        session.expunge(row)
        return row


AGENT_SCOPES = ["inbox:read", "inbox:write", "emails:send"]


def test_a_rule_answers_within_its_keys_allow_list(
    runtime: Runtime,
    api: TestClient,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    _, plain = _key(runtime, scopes=AGENT_SCOPES, allowed_recipients=["*@parceiro.com.br"])
    rule = _rule_by(api, plain)
    dovecot.append("INBOX", mail(subject="Proposta", sender="estranho@cliente.com.br"))
    dovecot.append("INBOX", mail(subject="Proposta nova", sender="bia@parceiro.com.br"))
    assert sync().auto_replies == 1
    (answer,) = _auto_replies(runtime)
    assert answer.to_emails == ["bia@parceiro.com.br"]
    row = _rule_row(runtime, rule["id"])
    assert row.last_error is not None and "allow-list" in row.last_error
    assert row.last_error_at is not None


def test_a_rule_of_a_key_in_review_mode_holds_its_answers(
    runtime: Runtime,
    api: TestClient,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    key_id, plain = _key(runtime, scopes=AGENT_SCOPES, review_mode=True)
    _rule_by(api, plain)
    dovecot.append("INBOX", mail(subject="Proposta", sender="ana@cliente.com.br"))
    assert sync().auto_replies == 1
    (answer,) = _auto_replies(runtime)
    assert (answer.status, answer.api_key_id) == ("held", key_id)


def test_a_rule_stops_at_its_keys_hourly_limit(
    runtime: Runtime,
    api: TestClient,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    _, plain = _key(runtime, scopes=AGENT_SCOPES, rate_limit_per_hour=1)
    rule = _rule_by(api, plain)
    for sender in ("ana@cliente.com.br", "bia@cliente.com.br", "caio@cliente.com.br"):
        dovecot.append("INBOX", mail(subject=f"Proposta de {sender}", sender=sender))
    assert sync().auto_replies == 1
    assert len(_auto_replies(runtime)) == 1
    error = _rule_row(runtime, rule["id"]).last_error
    assert error is not None and "per hour" in error


def test_a_rule_whose_key_is_revoked_or_deleted_does_not_send(
    runtime: Runtime,
    principal: Principal,
    api_key: str,
    api: TestClient,
    dovecot: Dovecot,
    sync: Callable[[], SyncReport],
    mail: MailFactory,
) -> None:
    key_id, plain = _key(runtime, scopes=AGENT_SCOPES)
    rule = _rule_by(api, plain)
    with runtime.db.session() as session:
        tenancy.revoke_key(session, principal=principal, key_id=key_id)
    dovecot.append("INBOX", mail(subject="Proposta", sender="ana@cliente.com.br"))
    assert sync().auto_replies == 0
    assert _auto_replies(runtime) == []
    error = _rule_row(runtime, rule["id"]).last_error
    assert error is not None and "revoked" in error
    listed = api.get("/inbox/rules", headers={"Authorization": f"Bearer {api_key}"})
    assert listed.json()[0]["last_error"] == error

    with runtime.db.session() as session:
        session.delete(session.get(ApiKey, key_id))
    dovecot.append("INBOX", mail(subject="Proposta 2", sender="bia@cliente.com.br"))
    assert sync().auto_replies == 0
    error = _rule_row(runtime, rule["id"]).last_error
    assert error is not None and "deleted" in error


def test_making_a_rule_needs_the_right_to_send(runtime: Runtime, api: TestClient) -> None:
    _, plain = _key(runtime, scopes=["inbox:read", "inbox:write"])
    r = api.post(
        "/inbox/rules",
        json={"name": "ack", "body": "Recebido."},
        headers={"Authorization": f"Bearer {plain}"},
    )
    assert r.status_code == 403
    assert "emails:send" in r.json()["message"]
    with runtime.db.session() as session:
        assert session.scalars(select(InboxRule)).all() == []


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, on the backend under test."""
    if os.environ.get("CARTEIRO_TEST_DATABASE", "sqlite") != "postgresql":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    import psycopg

    admin = os.environ.get("CARTEIRO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"carteiro_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_rules_made_before_keys_on_rules_are_disabled_with_a_reason(
    empty_database_url: str,
) -> None:
    db = Database(empty_database_url)
    try:
        migrate.upgrade(db.engine, "0004")
        migrate.upgrade(db.engine, "0006")
        with db.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO tenants (slug, name, created_at) VALUES ('t', 't', :now)"),
                {"now": datetime.now(UTC)},
            )
            conn.execute(
                text(
                    "INSERT INTO inbox_rules (tenant_id, name, enabled, match, responder, "
                    "template, created_at, updated_at) SELECT id, 'old', :yes, '{}', 'template', "
                    "'{}', :now, :now FROM tenants"
                ),
                {"yes": True, "now": datetime.now(UTC)},
            )
        migrate.upgrade(db.engine)
        with db.session() as session:
            (rule,) = session.scalars(select(InboxRule)).all()
            assert (rule.enabled, rule.api_key_id) == (False, None)
            assert rule.last_error is not None and "create it again" in rule.last_error
    finally:
        db.dispose()
