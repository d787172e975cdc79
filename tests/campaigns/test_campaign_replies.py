"""Replies to a campaign's messages, as a real inbox sync stores them (Dovecot): counted on
the ledger and the counters for a campaign without A/B, once per recipient, and selectable by
a `replied` segment; an out-of-office answer is no reply."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid

from campkit import add_leads, campaign, ledger, make_campaign, schedule, tick
from pydantic import TypeAdapter
from sqlalchemy import select

from carteiro.campaigns import catalog
from carteiro.campaigns.models import CampaignVariant
from carteiro.campaigns.segments import Definition
from carteiro.inbound.schemas import SyncReport
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from imapkit import dovecot, imap_account, imap_settings, sync  # noqa: F401  (fixtures)

DEFINITION: TypeAdapter[Definition] = TypeAdapter(Definition)


def answer(
    sender: str, to_message_id: str | None, *, headers: dict[str, str] | None = None
) -> bytes:
    lines = [
        f"From: {sender}",
        "To: caixa@example.com",
        "Subject: Re: Oi",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {make_msgid(domain='cliente.example')}",
        *(
            [f"In-Reply-To: {to_message_id}", f"References: {to_message_id}"]
            if to_message_id
            else []
        ),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        *[f"{k}: {v}" for k, v in (headers or {}).items()],
    ]
    return ("\r\n".join(lines) + "\r\n\r\nQuero saber mais.\r\n").encode()


def test_replies_count_for_a_campaign_without_ab_once_each(
    runtime: Runtime,
    principal: Principal,
    dovecot: Dovecot,  # noqa: F811
    sync: Callable[[], SyncReport],  # noqa: F811
) -> None:
    add_leads(
        runtime,
        principal.tenant_id,
        [
            {"nome": "Sol", "email": "ana@sol.com"},
            {"nome": "Lua", "email": "bia@lua.com"},
            {"nome": "Mar", "email": "caio@mar.com"},
        ],
    )
    cid = make_campaign(runtime, principal)
    schedule(runtime, principal, cid, override_dns=True)
    tick(runtime, rounds=3)
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert {r.status for r in rows.values()} == {"queued"}
    with runtime.db.session() as session:
        ids = {
            e.to_email: e.message_id
            for e in session.scalars(
                select(Email).where(Email.id.in_([r.email_id for r in rows.values()]))
            )
        }
    wrap = {k: v if v.startswith("<") else f"<{v}>" for k, v in ids.items()}
    dovecot.append("INBOX", answer("Ana <ana@sol.com>", wrap["ana@sol.com"]))
    dovecot.append(
        "INBOX",
        answer(
            "Bia <bia@lua.com>", wrap["bia@lua.com"], headers={"Auto-Submitted": "auto-replied"}
        ),
    )
    dovecot.append("INBOX", answer("Caio <caio@mar.com>", None))
    report = sync()
    assert report.new >= 3, report

    c = campaign(runtime, cid)
    assert c.replied == 1
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert rows["ana@sol.com"].replied_at is not None
    assert rows["bia@lua.com"].replied_at is None and rows["caio@mar.com"].replied_at is None
    with runtime.db.session() as session:
        variant = session.scalars(
            select(CampaignVariant).where(CampaignVariant.campaign_id == cid)
        ).one()
        assert variant.replied == 1
        found = catalog.preview(
            session,
            tenant_id=principal.tenant_id,
            definition=DEFINITION.validate_python(
                {
                    "kind": "rules",
                    "rule": {"type": "engagement", "action": "replied", "campaign_id": cid},
                }
            ),
        )
    assert [s.nome for s in found.sample] == ["Sol"]

    # A second answer from the same person, and the same sync again, count nothing twice.
    dovecot.append("INBOX", answer("Ana <ana@sol.com>", wrap["ana@sol.com"]))
    sync()
    sync()
    assert campaign(runtime, cid).replied == 1
