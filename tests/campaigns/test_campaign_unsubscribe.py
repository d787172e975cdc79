"""Unsubscribing through a campaign message's link counts on that campaign and its variant,
once per address, and never for a test send."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import httpx
from campkit import BODY, add_leads, campaign, ledger, make_campaign, schedule, tick
from sqlalchemy import select

from carteiro.campaigns import service
from carteiro.campaigns.models import CampaignVariant
from carteiro.leads.models import Suppression
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal


def _unsubscribe_path(runtime: Runtime, email_id: int) -> str:
    """The /u/{token} path of the link in the message's HTML as it goes out."""
    with runtime.db.session() as session:
        raw = session.scalar(select(Email.raw).where(Email.id == email_id))
    assert raw is not None
    part = BytesParser(policy=policy.default).parsebytes(raw).get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    found = re.search(r'href="https?://[^/"]+(/u/[^"]+)"', str(part.get_content()))
    assert found, "no unsubscribe link in the body"
    return found.group(1)


def _variant_unsubscribed(runtime: Runtime, campaign_id: int) -> list[int]:
    with runtime.db.session() as session:
        return list(
            session.scalars(
                select(CampaignVariant.unsubscribed)
                .where(CampaignVariant.campaign_id == campaign_id)
                .order_by(CampaignVariant.id)
            )
        )


def test_one_click_and_the_page_count_once_on_the_campaign(
    runtime: Runtime, principal: Principal, http_base: str
) -> None:
    add_leads(
        runtime,
        principal.tenant_id,
        [{"nome": "Padaria Sol", "email": "ana@sol.com"}, {"nome": "Bar", "email": "bia@bar.com"}],
    )
    cid = make_campaign(runtime, principal, track=False)
    schedule(runtime, principal, cid)
    tick(runtime, rounds=3)
    rows = {r.address: r for r in ledger(runtime, cid)}
    assert {r.status for r in rows.values()} == {"queued"}
    ana, bia = rows["ana@sol.com"], rows["bia@bar.com"]
    assert ana.email_id is not None and bia.email_id is not None
    assert campaign(runtime, cid).unsubscribed == 0

    # RFC 8058 one-click, as a mailbox provider posts it.
    one_click = httpx.post(
        http_base + _unsubscribe_path(runtime, ana.email_id),
        data={"List-Unsubscribe": "One-Click"},
    )
    assert one_click.status_code == 200 and one_click.json()["already"] is False
    assert campaign(runtime, cid).unsubscribed == 1
    assert _variant_unsubscribed(runtime, cid) == [1]
    # Clicking again changes nothing: the address was already out.
    again = httpx.post(http_base + _unsubscribe_path(runtime, ana.email_id))
    assert again.json()["already"] is True
    assert campaign(runtime, cid).unsubscribed == 1

    # The confirmation page's button (a browser: HTML answer).
    path = _unsubscribe_path(runtime, bia.email_id)
    assert "Cancelar inscrição" in httpx.get(http_base + path).text
    page = httpx.post(http_base + path, headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Inscrição cancelada" in page.text
    assert campaign(runtime, cid).unsubscribed == 2
    assert _variant_unsubscribed(runtime, cid) == [2]
    with runtime.db.session() as session:
        suppressed = set(session.scalars(select(Suppression.value)))
    assert {"ana@sol.com", "bia@bar.com"} <= suppressed


def test_a_test_send_unsubscribe_is_not_counted(
    runtime: Runtime, principal: Principal, http_base: str
) -> None:
    add_leads(runtime, principal.tenant_id, [{"nome": "Padaria Sol", "email": "ana@sol.com"}])
    cid = make_campaign(runtime, principal, variants=[{"subject": "Oferta", "content": BODY}])
    with runtime.db.session() as session:
        (email_id,) = service.test_send(
            session,
            principal=principal,
            campaign_id=cid,
            settings=runtime.settings,
            to=["revisora@example.com"],
        )
    response = httpx.post(http_base + _unsubscribe_path(runtime, email_id))
    assert response.status_code == 200 and response.json()["already"] is False
    assert campaign(runtime, cid).unsubscribed == 0
    assert _variant_unsubscribed(runtime, cid) == [0]
