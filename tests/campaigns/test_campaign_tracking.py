"""A campaign's tracked links and pixel: rewritten before enqueue, and each classified open or
click of a recipient counted on its ledger row and the campaign's counters."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import httpx
from campkit import add_leads, campaign, ledger, make_campaign, schedule, tick
from sqlalchemy import func, select

from carteiro.db.types import utcnow
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.tracking import service as tracking
from carteiro.tracking.models import TrackingHit

LINK = "https://loja.exemplo.com.br/oferta?a=1&amp;b=2#topo"
BODY = (
    f'<p>Olá {{{{ contato_nome | default("cliente") }}}}</p><a href="{LINK}">ver oferta</a>'
    '<a href="{{ unsubscribe_url }}">sair</a>'
)
HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def _html(runtime: Runtime, email_id: int) -> str:
    """The HTML part of the message as it will go out (the stored raw, what DKIM signs)."""
    with runtime.db.session() as session:
        raw = session.scalar(select(Email.raw).where(Email.id == email_id))
    assert raw is not None
    message = BytesParser(policy=policy.default).parsebytes(raw)
    part = message.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def _sent_campaign(runtime: Runtime, principal: Principal, *, track: bool) -> int:
    add_leads(runtime, principal.tenant_id, [{"nome": "Padaria Sol", "email": "ana@sol.com"}])
    cid = make_campaign(
        runtime, principal, track=track, variants=[{"subject": "Oferta", "content": BODY}]
    )
    schedule(runtime, principal, cid)
    tick(runtime, rounds=3)
    (row,) = ledger(runtime, cid)
    assert row.status == "queued" and row.email_id is not None
    return cid


def test_a_tracked_campaign_counts_a_human_click_and_open_on_its_ledger(
    runtime: Runtime, principal: Principal, http_base: str
) -> None:
    cid = _sent_campaign(runtime, principal, track=True)
    (row,) = ledger(runtime, cid)
    assert row.email_id is not None
    html = _html(runtime, row.email_id)
    click = re.search(r'href="([^"]+/t/[^"/]+/0)"', html)
    pixel = re.search(r'src="([^"]+/t/[^"/]+/o\.gif)"', html)
    assert click and pixel, html
    assert "unsubscribe" not in click.group(1)
    path = click.group(1).split("/t/", 1)[1]

    with httpx.Client(base_url=http_base, headers={"User-Agent": HUMAN}) as client:
        opened = client.get("/t/" + pixel.group(1).split("/t/", 1)[1])
        clicked = client.get("/t/" + path, follow_redirects=False)
    assert opened.status_code == 200
    assert clicked.status_code == 307
    assert clicked.headers["location"] == "https://loja.exemplo.com.br/oferta?a=1&b=2#topo"

    later = utcnow() + timedelta(minutes=1)
    deadline = utcnow() + timedelta(seconds=10)
    classified = 0
    while classified < 2 and utcnow() < deadline:  # hits are written after the response
        with runtime.db.session() as session:
            classified += tracking.classify_pending(
                session, bus=runtime.bus, owner="test", now=later, settle_seconds=0
            )
    assert classified == 2

    (row,) = ledger(runtime, cid)
    assert row.first_human_open_at is not None and row.first_click_at is not None
    c = campaign(runtime, cid)
    assert (c.opened_unique, c.opened_human_unique, c.clicked_unique) == (1, 1, 1)


def test_a_campaign_with_tracking_off_sends_its_links_as_written(
    runtime: Runtime, principal: Principal
) -> None:
    cid = _sent_campaign(runtime, principal, track=False)
    (row,) = ledger(runtime, cid)
    assert row.email_id is not None
    html = _html(runtime, row.email_id)
    assert "/t/" not in html and LINK in html and "o.gif" not in html


def test_one_sweep_counts_each_recipients_hits_on_its_own_ledger_row(
    runtime: Runtime, principal: Principal, http_base: str
) -> None:
    add_leads(
        runtime,
        principal.tenant_id,
        [
            {"nome": "Padaria Sol", "email": "ana@sol.com"},
            {"nome": "Café Lua", "email": "bia@lua.com"},
        ],
    )
    cid = make_campaign(
        runtime, principal, track=True, variants=[{"subject": "Oferta", "content": BODY}]
    )
    schedule(runtime, principal, cid)
    tick(runtime, rounds=3)
    first, second = ledger(runtime, cid)
    assert first.email_id is not None and second.email_id is not None
    paths = []
    for row, with_click in ((first, True), (second, False)):
        assert row.email_id is not None
        html = _html(runtime, row.email_id)
        pixel = re.search(r'src="[^"]+/t/([^"/]+/o\.gif)"', html)
        click = re.search(r'href="[^"]+/t/([^"/]+/0)"', html)
        assert pixel and click, html
        paths += [pixel.group(1), *([click.group(1)] if with_click else [])]
    with httpx.Client(base_url=http_base, headers={"User-Agent": HUMAN}) as client:
        assert [client.get("/t/" + p, follow_redirects=False).status_code for p in paths] == [
            200,
            307,
            200,
        ]

    later = utcnow() + timedelta(minutes=1)
    deadline = utcnow() + timedelta(seconds=10)
    with runtime.db.session() as session:
        written = session.scalar(select(func.count()).select_from(TrackingHit))
    while written < 3 and utcnow() < deadline:  # hits are written after the response
        time.sleep(0.05)
        with runtime.db.session() as session:
            written = session.scalar(select(func.count()).select_from(TrackingHit))
    assert written == 3
    # All three in one sweep: the campaigns of both messages looked up together.
    with runtime.db.session() as session:
        assert (
            tracking.classify_pending(
                session, bus=runtime.bus, owner="test", now=later, settle_seconds=0
            )
            == 3
        )

    first, second = ledger(runtime, cid)
    assert first.first_human_open_at is not None and first.first_click_at is not None
    assert second.first_human_open_at is not None and second.first_click_at is None
    c = campaign(runtime, cid)
    assert (c.opened_unique, c.opened_human_unique, c.clicked_unique) == (2, 2, 1)
