"""The campaign panel in a real browser: progress updates by itself while the campaign sends,
a person pauses it, and axe-core finds nothing on the list and the panel."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from test_browser_outbox import _accessible, _log_in
from test_campaign_pages import _running_campaign
from webkit import LiveServer, Made

from carteiro.campaigns import planner
from carteiro.campaigns.models import Campaign
from carteiro.outbound.models import Email
from carteiro.tenancy.service import Principal

pytestmark = pytest.mark.web


def test_watch_progress_and_pause(
    page: Page, live_server: LiveServer, principal: Principal, make_user: Callable[..., Made]
) -> None:
    rt = live_server.runtime
    cid = _running_campaign(rt, principal)
    operator = make_user("operadora@example.com", "operator")
    _log_in(page, live_server, operator.email)
    page.get_by_role("link", name="Campanhas").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Campanhas")
    _accessible(page)
    page.get_by_role("link", name="Natal").click()
    expect(page.locator("#campaign-state")).to_contain_text("enviando")
    _accessible(page)
    # The queue delivers two of three (as a worker would); the panel catches up by itself.
    with rt.db.session() as session:
        ids = [e.id for e in session.query(Email).order_by(Email.id).limit(2)]
        session.query(Email).filter(Email.id.in_(ids)).update({"status": "sent"})
    planner.tick(rt, owner="test")
    expect(page.locator('[data-count="sent"]')).to_have_text("2", timeout=15_000)
    page.get_by_role("button", name="Pausar").click()
    expect(page.get_by_role("status").first).to_contain_text("Pausada")
    expect(page.locator("#campaign-state")).to_contain_text("pausada")
    with rt.db.session() as session:
        assert session.get_one(Campaign, cid).status == "paused"
