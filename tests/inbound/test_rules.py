"""Automatic replies: once per thread, from a template, never into a loop or to old mail."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from carteiro.errors import InvalidInput
from carteiro.inbound import rules
from carteiro.inbound.models import InboxAutoReply
from carteiro.inbound.schemas import RuleCreate, SyncReport
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from conftest import MailFactory


@pytest.fixture
def rule(runtime: Runtime, principal: Principal) -> int:
    with runtime.db.session() as session:
        return rules.create(
            session,
            tenant_id=principal.tenant_id,
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
                tenant_id=principal.tenant_id,
                data=RuleCreate(name="x", match={"to": "a"}, body="oi"),
            )
        assert bad_key.value.field == "match"
        with pytest.raises(InvalidInput) as bad_template:
            rules.create(
                session,
                tenant_id=principal.tenant_id,
                data=RuleCreate(name="x", body="Olá {{ nome "),
            )
        assert bad_template.value.field == "body"
