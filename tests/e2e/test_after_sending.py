"""What a running Carteiro does around each message: DKIM signatures that verify, one-click
unsubscribe on bulk mail, and bounces read from the inbox shown on the message."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default

import dkim
import httpx
import pytest
from e2ekit import SMTP_USERS, received, wait_final, wait_until

from carteiro.testing.dovecot import Dovecot
from carteiro.testing.pipelining_sink import PipeliningSink
from conftest import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if not Dovecot.available():
        reason = "dovecot is not installed (Debian: apt-get install dovecot-imapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with Dovecot() as server:
        yield server


def send(http: httpx.Client, server: Server, sink: PipeliningSink, **fields: object) -> bytes:
    """Queues one message through the REST API and returns the bytes the sink received."""
    created = http.post("/emails", json={"body": "Olá.", "account": server.account, **fields})
    assert created.status_code == 201, created.text
    email = wait_final(http, created.json()["id"])
    assert email["status"] == "sent", email
    return received(sink, email["message_id"]).data


def test_mail_is_signed_with_the_domains_new_dkim_key(server: Server, sink: PipeliningSink) -> None:
    with server.client() as http:
        key = http.post("/dkim/keys", json={"domain": "example.com"})
        assert key.status_code == 201, key.text
        record = key.json()["record"]
        zone = {f"{record['name']}.".encode(): record["value"].encode()}
        raw = send(http, server, sink, to_email="eva@example.org", subject="Assinada")

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return zone.get(name, b"")

    assert raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(raw, dnsfunc=lookup)
    assert not dkim.verify(raw.replace(b"Assinada", b"Alterada"), dnsfunc=lookup)


def test_bulk_mail_carries_one_click_unsubscribe(server: Server, sink: PipeliningSink) -> None:
    with server.client() as http:
        batch = http.post(
            "/emails/batch",
            json=[
                {"to_email": to, "subject": "Novidades", "body": "Olá."}
                for to in ("lead@example.org", "lia@example.org")
            ],
        )
        assert batch.status_code == 202, batch.text
        first, _ = batch.json()["ids"]
        email = wait_final(http, first)
        assert email["status"] == "sent", email
        message = message_from_bytes(received(sink, email["message_id"]).data, policy=default)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = re.search(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
        assert link is not None, message["List-Unsubscribe"]
        # The one-click link points at this server and works there (RFC 8058).
        assert link.group(1).startswith(f"{server.base_url}/u/")
        done = http.post(link.group(1), data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200, done.text
        events = http.get(f"/emails/{first}").json()["events"]
    assert [e["type"] for e in events][-1] == "unsubscribed"
    assert events[-1]["detail"] == "lead@example.org"


def dsn(*, original_id: str, recipient: str, to: str) -> bytes:
    """A delivery status notification (RFC 3464) as a receiving MTA sends it back."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.cliente.example>\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-e2e@mx.cliente.example>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.cliente.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: User unknown\r\n\r\n"
        "--R\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: {to}\r\nTo: {recipient}\r\nSubject: Oferta\r\nMessage-ID: {original_id}\r\n\r\n"
        "Confira.\r\n"
        "--R--\r\n"
    ).encode()


def test_a_bounce_in_the_inbox_shows_on_the_message(
    server: Server, sink: PipeliningSink, dovecot: Dovecot
) -> None:
    recipient = "ninguem@cliente.example"
    with server.client() as http:
        account = http.post(
            "/accounts",
            json={
                "name": "caixa",
                "email": dovecot.user,
                "smtp": {
                    "host": sink.hostname,
                    "port": sink.port,
                    "username": "user",
                    "password": SMTP_USERS["user"],
                    "ca_file": str(sink.cert_path),
                },
                "imap": {**dovecot.imap_settings, "poll_seconds": 300},
            },
        )
        assert account.status_code == 201, account.text
        account_id = account.json()["id"]
        created = http.post(
            "/emails",
            json={
                "to_email": recipient,
                "subject": "Oferta",
                "body": "Confira.",
                "account": "caixa",
            },
        )
        assert created.status_code == 201, created.text
        email = wait_final(http, created.json()["id"])
        assert email["status"] == "sent", email
        assert email["delivery"] is None

        dovecot.append(
            "INBOX", dsn(original_id=email["message_id"], recipient=recipient, to=dovecot.user)
        )

        def reported() -> dict | None:
            synced = http.post(f"/accounts/{account_id}/sync")
            # 409: the worker's own sync of the account holds it; that sync finds the DSN too.
            assert synced.status_code in (200, 409), synced.text
            shown = http.get(f"/emails/{email['id']}").json()
            return shown if shown["delivery"] else None

        shown = wait_until(reported, 30, "the bounce to be matched")
    assert shown["status"] == "sent"
    assert shown["delivery"] == {
        "status": "bounced",
        "reported_at": shown["events"][-1]["at"],
        "smtp_status": "5.1.1",
        "diagnostic": f"smtp; 550 5.1.1 <{recipient}>: User unknown",
        "recipient": recipient,
    }
    assert [e["type"] for e in shown["events"]] == ["queued", "sent", "bounce_hard"]
