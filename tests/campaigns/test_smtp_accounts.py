"""A campaign through the real SMTP sink with two pool accounts and their hourly limits."""

from __future__ import annotations

from collections import Counter

from campkit import BODY, add_leads, campaign, ledger, make_campaign, schedule, tick
from sqlalchemy import select

from carteiro.accounts import service as accounts
from carteiro.accounts.schemas import AccountCreate, Limits, SmtpIn
from carteiro.campaigns import service
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink


def add_account(
    runtime: Runtime, principal: Principal, sink: SmtpSink, name: str, per_hour: int
) -> int:
    data = AccountCreate(
        name=name,
        email=f"{name}@example.com",
        display_name="Equipe",
        smtp=SmtpIn(
            host=sink.hostname,
            port=sink.port,
            security="starttls",
            username="user",
            password="secret",
            ca_file=str(sink.cert_path),
        ),
        limits=Limits(per_hour=per_hour),
    )
    with runtime.db.session() as session:
        return accounts.create(
            session, tenant_id=principal.tenant_id, data=data, vault=runtime.vault
        ).id


def done(runtime: Runtime, cid: int) -> bool:
    tick(runtime)
    return campaign(runtime, cid).status == "finished"


async def test_two_accounts_share_the_campaign_within_their_limits(
    runtime: Runtime, principal: Principal, sink: SmtpSink
) -> None:
    small = add_account(runtime, principal, sink, "pequena", per_hour=10)
    big = add_account(runtime, principal, sink, "grande", per_hour=100)
    add_leads(runtime, principal.tenant_id, [{"email": f"c{i}@cliente.com"} for i in range(60)])
    cid = make_campaign(
        runtime, principal, variants=[{"subject": "Oferta", "content": BODY}], pool_share=1.0
    )
    schedule(runtime, principal, cid, override_dns=True)  # no DKIM in this test's pool
    await run_dispatcher_until(runtime, lambda: done(runtime, cid), timeout=60)
    c = campaign(runtime, cid)
    assert c.status == "finished" and c.sent == 60
    rows = ledger(runtime, cid)
    assert {r.status for r in rows} == {"sent"}
    with runtime.db.session() as session:
        by_account = Counter(
            session.scalars(
                select(Email.account_id).where(Email.id.in_([r.email_id for r in rows]))
            )
        )
    assert by_account[small] <= 10 and by_account[small] + by_account[big] == 60
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == sorted(r.address for r in rows)
    with runtime.db.session() as session:
        st = service.stats(session, principal=principal, campaign_id=cid, with_accounts=True)
    assert {a.account: a.sent for a in st.accounts} == {
        name: n for name, n in (("pequena", by_account[small]), ("grande", by_account[big])) if n
    }
