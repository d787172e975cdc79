"""The SMTP sink, exercised with the standard library's own SMTP client."""

from __future__ import annotations

import base64
import smtplib
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from carteiro.testing.certs import make_self_signed_cert
from carteiro.testing.smtp_server import SmtpSink

USERS = {"alice": "s3cret"}
MESSAGE = b"Message-ID: <one@example.com>\r\nSubject: hello\r\n\r\nbody\r\n"


@pytest.fixture
def make_sink(tmp_path: Path) -> Iterator[Callable[..., SmtpSink]]:
    started: list[SmtpSink] = []

    def make(**kwargs: Any) -> SmtpSink:
        kwargs.setdefault("cert_dir", tmp_path / f"certs{len(started)}")
        sink = SmtpSink(**kwargs).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()


def _tls(sink: SmtpSink) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(sink.cert_path))


def _client(sink: SmtpSink, *, login: bool = True) -> smtplib.SMTP:
    client = smtplib.SMTP(sink.hostname, sink.port, timeout=5)
    client.starttls(context=_tls(sink))
    if login:
        client.login("alice", "s3cret")
    return client


def test_cert_names_hosts_and_is_trusted_as_ca(tmp_path: Path) -> None:
    cert, key = make_self_signed_cert(tmp_path, ("localhost", "127.0.0.1"))
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" in key.read_bytes()
    context = ssl.create_default_context(cafile=str(cert))
    assert context.cert_store_stats()["x509"] == 1


def test_starttls_login_and_send(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(users=USERS)
    with _client(sink) as client:
        refused = client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
    assert refused == {}
    assert sink.wait_for(1, timeout=5)
    [msg] = sink.messages
    assert msg.mail_from == "from@example.com"
    assert msg.rcpt_tos == ["to@example.com"]
    assert msg.data == MESSAGE
    assert msg.message_id == "<one@example.com>"
    assert sink.logins == 1
    assert sink.auth_attempts == 1
    assert sink.connections == 1


def test_wrong_password_rejected(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(users=USERS)
    with _client(sink, login=False) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login("alice", "wrong")
        assert info.value.smtp_code == 535
    assert sink.logins == 0
    assert sink.auth_attempts >= 1


def test_mail_refused_before_starttls(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(users=USERS)
    with smtplib.SMTP(sink.hostname, sink.port, timeout=5) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")
        creds = base64.b64encode(b"\0alice\0s3cret").decode()
        code, _ = client.docmd("AUTH", f"PLAIN {creds}")
        assert code == 530
        code, _ = client.docmd("MAIL", "FROM:<from@example.com>")
        assert code == 530
    assert sink.auth_attempts == 0


def test_auth_needs_tls_even_when_starttls_is_optional(
    make_sink: Callable[..., SmtpSink],
) -> None:
    sink = make_sink(users=USERS, require_starttls=False)
    with smtplib.SMTP(sink.hostname, sink.port, timeout=5) as client:
        client.ehlo()
        creds = base64.b64encode(b"\0alice\0s3cret").decode()
        code, _ = client.docmd("AUTH", f"PLAIN {creds}")
        assert code == 538
    assert sink.auth_attempts == 0


def test_implicit_tls_and_plain_modes(make_sink: Callable[..., SmtpSink]) -> None:
    tls_sink = make_sink(security="ssl", users=USERS)
    with smtplib.SMTP_SSL(tls_sink.hostname, tls_sink.port, context=_tls(tls_sink)) as client:
        client.login("alice", "s3cret")
        client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
    assert len(tls_sink.messages) == 1

    plain = make_sink(security="none")
    assert plain.cert_path is None
    with smtplib.SMTP(plain.hostname, plain.port, timeout=5) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
    assert len(plain.messages) == 1


def test_scripted_451_then_250(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(users=USERS)
    sink.script(["451 4.3.0 Try again later", "250 OK queued"])
    with _client(sink) as client:
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
        assert info.value.smtp_code == 451
        assert sink.messages == []
        client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
    assert len(sink.messages) == 1
    # The script is used up, so the default (accept) applies again.
    with _client(sink) as client:
        client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
    assert len(sink.messages) == 2


def test_default_reply_550_is_persistent(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(users=USERS)
    sink.default_reply = "550 5.1.1 User unknown"
    with _client(sink) as client:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError) as info:
                client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
            assert info.value.smtp_code == 550
    assert sink.messages == []


def test_drop_closes_connection_without_reply(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(users=USERS)
    sink.script(["drop"])
    client = _client(sink)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
    client.close()
    assert sink.messages == []
    with _client(sink) as client:
        client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
    assert len(sink.messages) == 1
    assert sink.connections == 2


def test_delay_entry_then_accepts(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(security="none")
    sink.script(["delay:0.05"])
    with smtplib.SMTP(sink.hostname, sink.port, timeout=5) as client:
        client.sendmail("from@example.com", ["to@example.com"], MESSAGE)
    assert len(sink.messages) == 1


def test_rcpt_rejects(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(users=USERS)
    sink.rcpt_rejects = {"Bad@example.com": "550 5.1.1 no such user"}
    with _client(sink) as client:
        refused = client.sendmail(
            "from@example.com", ["good@example.com", "bad@example.com"], MESSAGE
        )
        assert refused == {"bad@example.com": (550, b"5.1.1 no such user")}
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("from@example.com", ["bad@example.com"], MESSAGE)
    [msg] = sink.messages
    assert msg.rcpt_tos == ["good@example.com"]


def test_message_ids_wait_for_and_clear(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(security="none")
    assert not sink.wait_for(1, timeout=0.01)
    with smtplib.SMTP(sink.hostname, sink.port, timeout=5) as client:
        for n in range(3):
            body = f"Message-ID: <{n}@example.com>\r\n\r\nx\r\n".encode()
            client.sendmail("from@example.com", ["to@example.com"], body)
        client.sendmail("from@example.com", ["to@example.com"], b"Subject: no id\r\n\r\nx\r\n")
    assert sink.wait_for(4, timeout=5)
    assert sink.message_ids() == ["<0@example.com>", "<1@example.com>", "<2@example.com>"]
    assert sink.connections == 1
    sink.clear()
    assert sink.messages == []


def test_connections_counter_and_close_connections(make_sink: Callable[..., SmtpSink]) -> None:
    sink = make_sink(security="none")
    assert sink.connections == 0
    first = smtplib.SMTP(sink.hostname, sink.port, timeout=5)
    second = smtplib.SMTP(sink.hostname, sink.port, timeout=5)
    first.noop()
    second.noop()
    assert sink.connections == 2
    sink.close_connections()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        first.noop()
    first.close()
    second.close()


def test_context_manager_and_fixed_port(tmp_path: Path) -> None:
    with SmtpSink(security="none") as probe:
        port = probe.port
    assert port != 0
    with SmtpSink(security="none", port=port) as sink:
        assert sink.port == port
        with smtplib.SMTP(sink.hostname, sink.port, timeout=5) as client:
            assert client.noop()[0] == 250
