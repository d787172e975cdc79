"""A variant's `from_name` is the From display name of the messages it sends (through the real
SMTP sink and the pool), and a variant without one keeps the account's display name."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from campkit import BODY, add_leads, ledger, make_campaign, schedule, tick
from sqlalchemy import select
from test_smtp_accounts import add_account

from carteiro.campaigns.models import CampaignVariant
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink


async def test_each_variant_sends_under_its_own_from_name(
    runtime: Runtime, principal: Principal, sink: SmtpSink
) -> None:
    add_account(runtime, principal, sink, "pequena", per_hour=5)
    add_account(runtime, principal, sink, "grande", per_hour=100)
    add_leads(runtime, principal.tenant_id, [{"email": f"c{i}@cliente.com"} for i in range(30)])
    cid = make_campaign(
        runtime,
        principal,
        variants=[
            {"subject": "Oferta", "content": BODY},
            {"subject": "Oferta da Ana", "content": BODY, "from_name": "Ana da Loja"},
        ],
        ab={"enabled": True, "test_fraction": 0.9, "min_per_variant": 1},
        pool_share=1.0,
    )
    schedule(runtime, principal, cid, override_dns=True)  # no DKIM in this test's pool

    def test_set_sent() -> bool:
        tick(runtime)
        rows = [r for r in ledger(runtime, cid) if r.phase == "test"]
        return bool(rows) and all(r.status == "sent" for r in rows)

    await run_dispatcher_until(runtime, test_set_sent, timeout=60)
    assert test_set_sent(), "the test set was not sent in time"
    with runtime.db.session() as session:
        labels = dict(
            session.execute(
                select(CampaignVariant.id, CampaignVariant.label).where(
                    CampaignVariant.campaign_id == cid
                )
            ).all()
        )
    sent = {r.address: labels[r.variant_id] for r in ledger(runtime, cid) if r.status == "sent"}
    assert set(sent.values()) == {"A", "B"}
    names: dict[str, set[str]] = {"A": set(), "B": set()}
    for m in sink.messages:
        message = BytesParser(policy=policy.default).parsebytes(m.data)
        (sender,) = message["From"].addresses
        names[sent[m.rcpt_tos[0]]].add(sender.display_name)
    assert names == {"A": {"Equipe"}, "B": {"Ana da Loja"}}
    assert len(sink.messages) == len(sent)
