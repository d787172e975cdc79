"""Outgoing mail is DKIM-signed for its sender's domain; bulk mail carries one-click unsubscribe."""

from __future__ import annotations

import re

import dkim
from fastapi.testclient import TestClient

from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account
from carteiro.accounts.schemas import AccountCreate
from carteiro.api.app import create_app
from carteiro.leads import suppression
from carteiro.outbound import enqueue, service
from carteiro.outbound.dkim import keys as dkim_keys
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink


def publish(runtime: Runtime, principal: Principal, domain: str) -> dict[bytes, bytes]:
    """Creates the domain's key and returns a tiny 'DNS' with its TXT record."""
    with runtime.db.session() as session:
        key = dkim_keys.generate_key(
            session, tenant_id=principal.tenant_id, domain=domain, vault=runtime.vault
        )
        record = dkim_keys.dns_record(key)
    return {f"{record.name}.".encode(): record.value.encode()}


def verify(raw: bytes, zone: dict[bytes, bytes]) -> bool:
    return dkim.verify(raw, dnsfunc=lambda name, timeout=5: zone.get(name, b""))


async def test_signed_mail_verifies_at_the_receiver(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    zone = publish(runtime, principal, "example.com")
    with runtime.db.session() as session:
        email, _ = service.create(
            session,
            principal=principal,
            data=EmailCreate(to_email="ana@example.org", subject="Olá", body="Oi", account="sink"),
            settings=runtime.settings,
        )
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email.id) == "sent")
    (got,) = sink.messages
    assert got.data.startswith(b"DKIM-Signature:") and b"d=example.com" in got.data
    assert verify(got.data, zone)
    assert not verify(got.data.replace(b"Oi", b"Ol"), zone)


def test_bulk_mail_has_one_click_unsubscribe_that_works(
    runtime: Runtime, principal: Principal, api_key: str, smtp_account: int
) -> None:
    zone = publish(runtime, principal, "example.com")
    with TestClient(create_app(runtime, run_worker=False)) as client:
        h = {"Authorization": f"Bearer {api_key}"}
        ids = client.post(
            "/emails/batch",
            headers=h,
            json=[
                {
                    "to_email": "lead@example.org",
                    "subject": "Oferta",
                    "body": "b",
                    "account": "sink",
                }
            ],
        ).json()["ids"]
        raw = client.get(f"/emails/{ids[0]}/raw", headers=h).content
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
        signed = re.search(rb"h=([^;]+);", raw.replace(b"\r\n", b"").replace(b" ", b""))
        assert signed and b"list-unsubscribe" in signed.group(1).lower()
        assert verify(raw, zone)
        url = re.search(rb"<(https?://[^>]+/u/[^>]+)>", raw.replace(b"\r\n ", b" "))
        assert url is not None
        path = "/u/" + url.group(1).decode().rsplit("/u/", 1)[1]
        assert client.get(path).status_code == 200
        assert client.post(path + "x").status_code in (400, 404, 422)
        r = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 200
        # Transactional mail has no unsubscribe header.
        one = client.post(
            "/emails", headers=h, json={"to_email": "x@example.org", "subject": "s", "body": "b"}
        ).json()
        assert b"List-Unsubscribe" not in client.get(f"/emails/{one['id']}/raw", headers=h).content
    with runtime.db.session() as session:
        assert suppression.is_suppressed(
            session, tenant_id=principal.tenant_id, addresses=["lead@example.org"]
        ) == {"lead@example.org": "unsubscribe"}


async def test_pool_reroute_re_signs_for_the_new_domain(
    runtime: Runtime, principal: Principal, sink: SmtpSink
) -> None:
    zone = {
        **publish(runtime, principal, "one.example"),
        **publish(runtime, principal, "two.example"),
    }
    ids = {}
    with runtime.db.session() as session:
        for name in ("one", "two"):
            ids[name] = accounts.create(
                session,
                tenant_id=principal.tenant_id,
                vault=runtime.vault,
                data=AccountCreate(
                    name=name,
                    email=f"noreply@{name}.example",
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
            data=EmailCreate(to_email="ana@example.org", subject="s", body="b"),
            settings=runtime.settings,
        )
        provisional = email.from_email
        # Whichever account the preview used is paused: the pool must move the mail.
        paused = ids["one"] if provisional.endswith("one.example") else ids["two"]
        session.get(Account, paused).status = "paused"  # type: ignore[union-attr]
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email.id) == "sent")
    (got,) = sink.messages
    assert got.mail_from != provisional
    assert f"From: {got.mail_from}".encode() in got.data
    assert got.data.count(b"DKIM-Signature:") == 1 and verify(got.data, zone)
    with runtime.db.session() as session:
        stored = service.get_or_raise(session, principal=principal, email_id=email.id)
        assert service.raw_bytes(session, stored, settings=runtime.settings) == got.data


async def test_batch_mail_is_signed_when_sent_and_readers_see_the_sent_bytes(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int
) -> None:
    """Queued bulk mail is stored unsigned (enqueueing a campaign pays no RSA per recipient);
    the dispatcher signs it, and the stored message rebuilds exactly what the receiver got."""
    zone = publish(runtime, principal, "example.com")
    items = [
        EmailCreate(
            to_email=f"lead{i}@example.org", subject=f"Oferta {i}", body="b", account="sink"
        )
        for i in range(3)
    ]
    with runtime.db.session() as session:
        queued = enqueue.create_batch(
            session, principal=principal, items=items, settings=runtime.settings
        )
    ids = [q.id for q in queued]
    with runtime.db.session() as session:
        stored = [service.get_or_raise(session, principal=principal, email_id=i) for i in ids]
        assert all(b"DKIM-Signature" not in e.raw for e in stored)
    await run_dispatcher_until(
        runtime, lambda: all(email_status(runtime, i) == "sent" for i in ids)
    )
    got = {m.data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0]: m.data for m in sink.messages}
    assert len(got) == 3
    with runtime.db.session() as session:
        for i, email_id in enumerate(ids):
            wire = got[f"Oferta {i}".encode()]
            assert wire.count(b"DKIM-Signature:") == 1 and verify(wire, zone)
            email = service.get_or_raise(session, principal=principal, email_id=email_id)
            assert service.raw_bytes(session, email, settings=runtime.settings) == wire
            assert email.raw == wire and email.size == len(wire)  # written back when sealed
    # The key goes away (a rotation, say): the stored messages still show what was sent.
    with runtime.db.session() as session:
        for key in dkim_keys.list_(session, tenant_id=principal.tenant_id):
            dkim_keys.delete(session, tenant_id=principal.tenant_id, key_id=key.id)
    with runtime.db.session() as session:
        email = service.get_or_raise(session, principal=principal, email_id=ids[0])
        assert service.raw_bytes(session, email, settings=runtime.settings) == got[b"Oferta 0"]
