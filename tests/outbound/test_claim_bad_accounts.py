"""An account row the composer cannot use (written before accounts were validated) fails
only the messages routed to it; every other account's and tenant's mail still goes out."""

from __future__ import annotations

from sqlalchemy import update

from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account
from carteiro.accounts.schemas import AccountCreate, SmtpIn
from carteiro.outbound import service
from carteiro.outbound.models import Email, EmailEvent
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink


def add_account(runtime: Runtime, tenant_id: int, sink: SmtpSink, name: str, email: str) -> int:
    data = AccountCreate(
        name=name,
        email=email,
        display_name="Equipe",
        smtp=SmtpIn(
            host=sink.hostname,
            port=sink.port,
            username="user",
            password="secret",
            ca_file=str(sink.cert_path),
        ),
    )
    with runtime.db.session() as session:
        return accounts.create(session, tenant_id=tenant_id, data=data, vault=runtime.vault).id


def send(runtime: Runtime, principal: Principal, to: str, **fields: object) -> int:
    with runtime.db.session() as session:
        data = EmailCreate(to_email=to, subject="s", body="b", **fields)  # type: ignore[arg-type]
        return service.create(session, principal=principal, data=data, settings=runtime.settings)[
            0
        ].id


def corrupt(runtime: Runtime, account_id: int, **values: object) -> None:
    """Writes the row directly, as an account saved by an older version would be."""
    with runtime.db.session() as session:
        session.execute(update(Account).where(Account.id == account_id).values(**values))


def other_tenant(runtime: Runtime) -> Principal:
    with runtime.db.session() as session:
        tenant = tenancy.create_tenant(session, slug="acme")
        _, plain = tenancy.create_key(session, tenant_id=tenant.id, name="acme")
    return runtime.authenticate(plain)


async def test_unusable_account_fails_its_message_and_the_rest_is_sent(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    acme = other_tenant(runtime)
    vendas = add_account(runtime, acme.tenant_id, sink, "vendas", "vendas@acme.com.br")
    joao = add_account(runtime, acme.tenant_id, sink, "joao", "joao@acme2.com.br")
    add_account(runtime, acme.tenant_id, sink, "suporte", "suporte@acme3.com.br")

    ours = [send(runtime, principal, f"r{i}@example.com") for i in range(3)]
    routed_name = send(runtime, acme, "a@example.com", from_email="vendas@acme.com.br")
    routed_local = send(runtime, acme, "b@example.com", from_email="@acme2.com.br")
    pinned = send(runtime, acme, "c@example.com", account="suporte")

    # The accounts the messages were queued for stop; the only ones left to take them are
    # rows no current version would accept: a U+2028 in the display name (PostgreSQL cannot
    # even store the NUL SQLite would keep) and a non-ASCII local part.
    corrupt(runtime, vendas, status="paused")
    corrupt(runtime, joao, status="paused")
    bad_name = add_account(runtime, acme.tenant_id, sink, "vendas2", "vendas@acme.com.br")
    corrupt(runtime, bad_name, display_name="Vendas\u2028Bcc: all@acme.com.br")
    bad_local = add_account(runtime, acme.tenant_id, sink, "joao2", "joao@acme2.com.br")
    corrupt(runtime, bad_local, email="joão@acme2.com.br")

    everything = [*ours, routed_name, routed_local, pinned]
    await run_dispatcher_until(
        runtime,
        lambda: all(email_status(runtime, i) in ("sent", "failed") for i in everything),
    )

    assert [email_status(runtime, i) for i in [*ours, pinned]] == ["sent"] * 4
    with runtime.db.session() as session:
        for email_id, account, reason in [
            (routed_name, "vendas2", "line breaks are not allowed"),
            (routed_local, "joao2", "non-ASCII"),
        ]:
            row = session.get(Email, email_id)
            assert row is not None and row.status == "failed"
            assert row.error_type == "invalid_account"
            assert f"account '{account}' cannot send this message" in (row.error_message or "")
            assert reason in (row.error_message or "")
            events = session.query(EmailEvent).filter_by(email_id=email_id, type="failed").all()
            assert len(events) == 1 and events[0].detail["account"] == account
    assert len(sink.messages) == 4
    assert not any(b"all@acme.com.br" in m.data for m in sink.messages)
