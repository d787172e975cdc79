"""One-click unsubscribe: encrypted tokens, List-Unsubscribe headers, POST/GET /u/{token}."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carteiro.api.app import create_app
from carteiro.events.models import OutboxEvent
from carteiro.leads import suppression, unsubscribe
from carteiro.leads.models import Suppression
from carteiro.outbound import service as outbound
from carteiro.outbound.models import EmailEvent
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal

ADDRESS = "cliente@example.org"


def flip(text: str, at: int = 0) -> str:
    """The same text with one character changed (the last one of base64 may only carry
    padding bits, so changing it can decode to the same bytes)."""
    return text[:at] + ("B" if text[at] == "A" else "A") + text[at + 1 :]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def legacy_token(runtime: Runtime, tenant_id: int, address: str, issued: float) -> str:
    """A version 1 link as earlier releases wrote it: readable JSON and an HMAC."""
    payload = json.dumps([1, tenant_id, address, None, None, int(issued)]).encode()
    mac = hmac.new(unsubscribe.token_key(runtime.settings), payload, hashlib.sha256).digest()
    return f"{b64(payload)}.{b64(mac)}"


@pytest.fixture
def public(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    """A client without any API key, as a mail provider or a browser is."""
    with TestClient(create_app(runtime, run_worker=False)) as c:
        yield c


def token(runtime: Runtime, principal: Principal, **kwargs: object) -> str:
    return unsubscribe.issue(
        runtime.settings,
        tenant_id=principal.tenant_id,
        address=kwargs.pop("address", ADDRESS),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.db.session() as session:
        return (
            session.scalar(select(func.count(Suppression.id))) or 0,
            session.scalar(select(func.count(OutboxEvent.id))) or 0,
        )


def test_token_round_trip_and_tampering(runtime: Runtime, principal: Principal) -> None:
    t = token(runtime, principal, email_id=7, campaign_id=3)
    parsed = unsubscribe.verify(runtime.settings, t)
    assert (parsed.tenant_id, parsed.address, parsed.email_id, parsed.campaign_id) == (
        principal.tenant_id,
        ADDRESS,
        7,
        3,
    )
    other = unsubscribe.issue(
        runtime.settings, tenant_id=principal.tenant_id, address="outro@example.org"
    )
    forged = [
        flip(t, 0),  # the version byte
        flip(t, 5),  # the nonce
        flip(t, len(t) // 2),  # the ciphertext
        flip(t, len(t) - 3),  # the tag
        t[:-5],
        t[:20] + other[20:],  # someone else's ciphertext under this nonce
        "nonsense",
        "a.b.c",
        "",
        "x" * 2000,
        "A" * 120,
    ]
    for bad in forged:
        with pytest.raises(unsubscribe.InvalidToken):
            unsubscribe.verify(runtime.settings, bad)


def test_the_token_does_not_show_the_address(runtime: Runtime, principal: Principal) -> None:
    t = token(runtime, principal, email_id=7)
    assert "." not in t and len(t) < 200
    decoded = base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
    assert b"cliente" not in decoded and b"example" not in decoded and "cliente" not in t
    # A fresh nonce each time: two links for the same address share nothing readable.
    again = token(runtime, principal, email_id=7)
    assert again != t and again[1:17] != t[1:17]


def test_another_secret_key_rejects_the_token(runtime: Runtime, principal: Principal) -> None:
    t = token(runtime, principal)
    other = runtime.settings.model_copy(update={"secret_key": "a-different-secret"})
    with pytest.raises(unsubscribe.InvalidToken):
        unsubscribe.verify(other, t)


def test_tokens_expire_after_a_year_by_default(runtime: Runtime, principal: Principal) -> None:
    assert runtime.settings.unsubscribe_ttl_days == 365
    old = token(runtime, principal, now=time.time() - 366 * 86400)
    with pytest.raises(unsubscribe.ExpiredToken):
        unsubscribe.verify(runtime.settings, old)
    recent = token(runtime, principal, now=time.time() - 364 * 86400)
    assert unsubscribe.verify(runtime.settings, recent).address == ADDRESS
    expiring = runtime.settings.model_copy(update={"unsubscribe_ttl_days": 30})
    with pytest.raises(unsubscribe.ExpiredToken):
        unsubscribe.verify(expiring, recent)
    never = runtime.settings.model_copy(update={"unsubscribe_ttl_days": 0})
    assert unsubscribe.verify(never, old).address == ADDRESS


def test_signed_links_from_earlier_mail_still_work(runtime: Runtime, principal: Principal) -> None:
    legacy = legacy_token(runtime, principal.tenant_id, ADDRESS, time.time() - 10 * 86400)
    assert unsubscribe.verify(runtime.settings, legacy).address == ADDRESS
    body, sig = legacy.split(".")
    with pytest.raises(unsubscribe.InvalidToken):
        unsubscribe.verify(runtime.settings, f"{body}.{flip(sig)}")
    stale = legacy_token(runtime, principal.tenant_id, ADDRESS, time.time() - 400 * 86400)
    with pytest.raises(unsubscribe.ExpiredToken):
        unsubscribe.verify(runtime.settings, stale)


def test_list_unsubscribe_headers(runtime: Runtime, principal: Principal) -> None:
    headers = unsubscribe.list_unsubscribe_headers(
        runtime.settings,
        tenant_id=principal.tenant_id,
        address=ADDRESS,
        email_id=5,
        mailto="sair+lista@empresa.com.br",
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    mailto, https = headers["List-Unsubscribe"].split(", ")
    assert mailto == "<mailto:sair+lista@empresa.com.br?subject=unsubscribe>"
    assert https.startswith("<https://mail.carteiro.test/u/") and https.endswith(">")
    t = https[len("<https://mail.carteiro.test/u/") : -1]
    assert unsubscribe.verify(runtime.settings, t).email_id == 5
    only_https = unsubscribe.list_unsubscribe_headers(
        runtime.settings, tenant_id=principal.tenant_id, address=ADDRESS
    )
    assert only_https["List-Unsubscribe"].startswith("<https://")


def test_get_shows_a_confirmation_page_and_changes_nothing(
    public: TestClient, runtime: Runtime, principal: Principal
) -> None:
    t = token(runtime, principal)
    pt = public.get(f"/u/{t}")
    assert pt.status_code == 200 and pt.headers["content-type"].startswith("text/html")
    assert "Cancelar inscrição" in pt.text and 'method="post"' in pt.text
    assert "c***@example.org" in pt.text and ADDRESS not in pt.text
    assert pt.headers["cache-control"] == "no-store"
    en = public.get(f"/u/{t}", headers={"Accept-Language": "en-US,en;q=0.9,pt;q=0.5"})
    assert "Unsubscribe" in en.text and 'lang="en"' in en.text
    forced = public.get(f"/u/{t}?lang=en", headers={"Accept-Language": "pt-BR"})
    assert "Stop receiving" in forced.text
    unknown = public.get(f"/u/{t}?lang=de")
    assert unknown.status_code == 200 and "Cancelar inscrição" in unknown.text
    other = public.get(f"/u/{t}", headers={"Accept-Language": "de-DE,fr;q=0.8"})
    assert "Cancelar inscrição" in other.text
    assert counts(runtime) == (0, 0)


def test_one_click_post_suppresses_and_records_the_event_once(
    public: TestClient, runtime: Runtime, principal: Principal
) -> None:
    with runtime.db.session() as session:
        email, _ = outbound.create(
            session,
            principal=principal,
            data=EmailCreate(to_email=ADDRESS, subject="Oferta", body="corpo"),
            settings=runtime.settings,
        )
        email_id = email.id
    t = token(runtime, principal, email_id=email_id, campaign_id=9)
    form = {"List-Unsubscribe": "One-Click"}
    first = public.post(f"/u/{t}", data=form)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "status": "unsubscribed",
        "address": "c***@example.org",
        "already": False,
    }
    second = public.post(f"/u/{t}", data=form)
    assert second.status_code == 200 and second.json()["already"] is True

    with runtime.db.session() as session:
        row = session.scalar(select(Suppression))
        events = list(session.scalars(select(OutboxEvent)))
        email_events = list(
            session.scalars(
                select(EmailEvent.type).where(
                    EmailEvent.email_id == email_id, EmailEvent.type == "unsubscribed"
                )
            )
        )
        found = suppression.is_suppressed(
            session, tenant_id=principal.tenant_id, addresses=[ADDRESS]
        )
    assert row is not None and row.reason == "unsubscribe" and row.source == "one-click"
    assert row.detail == {"email_id": email_id, "campaign_id": 9}
    assert [(e.type, e.payload["address"], e.payload["email_id"]) for e in events] == [
        ("unsubscribed", ADDRESS, email_id)
    ]
    assert email_events == ["unsubscribed"]
    assert found == {ADDRESS: "unsubscribe"}
    page = public.get(f"/u/{t}")
    assert "já estava fora" in page.text and 'method="post"' not in page.text


def test_browser_post_gets_a_page(
    public: TestClient, runtime: Runtime, principal: Principal
) -> None:
    t = token(runtime, principal)
    done = public.post(
        f"/u/{t}", data={"List-Unsubscribe": "One-Click"}, headers={"Accept": "text/html"}
    )
    assert done.status_code == 200 and "Inscrição cancelada" in done.text


def test_forged_or_expired_tokens_change_nothing(
    public: TestClient, runtime: Runtime, principal: Principal
) -> None:
    t = token(runtime, principal)
    forged = flip(t, len(t) // 2)
    assert public.post(f"/u/{forged}").status_code == 400
    assert public.post(f"/u/{forged}").json()["error"] == "invalid_token"
    page = public.get(f"/u/{forged}", headers={"Accept-Language": "en"})
    assert page.status_code == 400 and "Invalid link" in page.text
    html_post = public.post(f"/u/{forged}", headers={"Accept": "text/html"})
    assert html_post.status_code == 400 and "Link inválido" in html_post.text
    assert public.post("/u/nothing-here").status_code == 400

    old = token(runtime, principal, now=time.time() - 90 * 86400)
    ancient = token(runtime, principal, now=time.time() - 400 * 86400)
    assert public.post(f"/u/{ancient}").status_code == 410  # a year by default
    assert public.post(f"/u/{ancient}").json()["error"] == "expired_token"
    runtime.settings = runtime.settings.model_copy(update={"unsubscribe_ttl_days": 30})
    assert public.post(f"/u/{old}").status_code == 410
    assert "Link expirado" in public.get(f"/u/{old}").text
    assert counts(runtime) == (0, 0)


def test_other_tenants_email_is_not_touched(
    public: TestClient, runtime: Runtime, principal: Principal
) -> None:
    with runtime.db.session() as session:
        other = tenancy.create_tenant(session, slug="outro")
        _, plain = tenancy.create_key(session, tenant_id=other.id, name="k")
    other_principal = runtime.authenticate(plain)
    with runtime.db.session() as session:
        theirs, _ = outbound.create(
            session,
            principal=other_principal,
            data=EmailCreate(to_email=ADDRESS, subject="x", body="y"),
            settings=runtime.settings,
        )
    t = token(runtime, principal, email_id=theirs.id)
    assert public.post(f"/u/{t}").status_code == 200
    with runtime.db.session() as session:
        touched = session.scalar(
            select(func.count(EmailEvent.id)).where(EmailEvent.type == "unsubscribed")
        )
        theirs_suppressed = suppression.is_suppressed(
            session, tenant_id=other_principal.tenant_id, addresses=[ADDRESS]
        )
    assert touched == 0 and theirs_suppressed == {}
