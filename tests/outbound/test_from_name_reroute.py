"""A message's own From display name (`from_name`, a campaign variant's) survives the pool
moving it to another account; without one, the new account's display name is used."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
from pydantic import ValidationError

from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account
from carteiro.accounts.schemas import AccountCreate
from carteiro.outbound import service
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink


def _display_name(data: bytes) -> str:
    (sender,) = BytesParser(policy=policy.default).parsebytes(data)["From"].addresses
    return str(sender.display_name)


@pytest.mark.parametrize(
    ("from_name", "expected"), [("Ana da Loja", "Ana da Loja"), (None, "Conta {moved}")]
)
async def test_the_chosen_name_survives_a_move_to_another_account(
    runtime: Runtime, principal: Principal, sink: SmtpSink, from_name: str | None, expected: str
) -> None:
    ids = {}
    with runtime.db.session() as session:
        for name in ("um", "dois"):
            ids[name] = accounts.create(
                session,
                tenant_id=principal.tenant_id,
                vault=runtime.vault,
                data=AccountCreate(
                    name=name,
                    email=f"noreply@{name}.example",
                    display_name=f"Conta {name}",
                    smtp={
                        "host": sink.hostname,
                        "port": sink.port,
                        "username": "user",  # type: ignore[arg-type]
                        "password": "secret",
                        "ca_file": str(sink.cert_path),
                    },
                ),
            ).id
        email, _ = service.create(
            session,
            principal=principal,
            data=EmailCreate(
                to_email="ana@example.org", subject="s", body="b", from_name=from_name
            ),
            settings=runtime.settings,
        )
        first = "um" if email.from_email.endswith("um.example") else "dois"
        moved = "dois" if first == "um" else "um"
        # The account it was composed for is paused: the pool must move the mail.
        session.get_one(Account, ids[first]).status = "paused"
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email.id) == "sent")
    (got,) = sink.messages
    assert got.mail_from == f"noreply@{moved}.example"
    assert _display_name(got.data) == expected.format(moved=moved)
    with runtime.db.session() as session:
        stored = service.get_or_raise(session, principal=principal, email_id=email.id)
        assert _display_name(service.raw_bytes(session, stored, settings=runtime.settings)) == (
            expected.format(moved=moved)
        )


def test_a_line_break_in_the_name_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        EmailCreate(to_email="a@example.org", subject="s", body="b", from_name="Ana\r\nBcc: x")
    assert refused.value.errors()[0]["loc"] == ("from_name",)
