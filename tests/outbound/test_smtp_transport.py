"""SmtpTransport against a real in-process SMTP server: TLS, auth, pooling and failure mapping."""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable

import pytest

from carteiro.mail.transports.base import PermanentFailure, TemporaryFailure, Transport
from carteiro.mail.transports.smtp import SmtpConfig, SmtpTransport
from carteiro.testing.smtp_server import SmtpSink

USERS = {"alice": "s3cret"}
SENDER = "from@example.com"
RCPT = ["to@example.com"]


def _raw(n: int = 0) -> bytes:
    return f"Message-ID: <{n}@example.com>\r\nSubject: test {n}\r\n\r\nbody {n}\r\n".encode()


@pytest.fixture
def make_sink(sink_factory: Callable[..., SmtpSink]) -> Callable[..., SmtpSink]:
    return functools.partial(sink_factory, SmtpSink)


async def test_starttls_auth_verified_send(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport: Transport = make_transport(sink)
    result = await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert result.code == 250
    assert result.reply == "OK"
    assert result.refused == {}
    assert result.duration >= 0
    assert sink.message_ids() == ["<0@example.com>"]
    assert sink.logins == 1


async def test_unknown_ca_is_a_tls_failure(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink, ca_file=None)
    with pytest.raises(TemporaryFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert info.value.error_type == "tls"
    assert "certificate" in info.value.reply
    assert sink.messages == []
    assert sink.auth_attempts == 0


async def test_verify_tls_off_accepts_self_signed(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink, ca_file=None, verify_tls=False)
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert len(sink.messages) == 1


async def test_implicit_tls(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink(security="ssl")
    transport = make_transport(sink)
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert len(sink.messages) == 1
    assert sink.logins == 1

    untrusted = make_transport(sink, ca_file=None)
    with pytest.raises(TemporaryFailure) as info:
        await untrusted.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert info.value.error_type == "tls"


async def test_plain_mode_without_login(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink(security="none", users=None)
    transport = make_transport(sink, username=None, password=None)
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert len(sink.messages) == 1


async def test_sequential_sends_reuse_one_connection(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink)
    for n in range(10):
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(n))
    assert len(sink.messages) == 10
    assert sink.connections == 1
    assert transport.connections_opened == 1
    assert sink.logins == 1


async def test_concurrent_sends_bounded_by_max_connections(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    # Slow replies keep every connection busy, so the sends really overlap.
    sink.delay_seconds = 0.05
    transport = make_transport(sink, max_connections=2)
    await asyncio.gather(
        *(transport.send(sender=SENDER, recipients=RCPT, raw=_raw(n)) for n in range(8))
    )
    assert len(sink.messages) == 8
    # The first two sends find the pool empty and both connect; nobody else ever does.
    assert sink.connections == 2
    assert transport.connections_opened == 2


async def test_scripted_451_is_temporary(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.script(["451 4.3.0 Try again later"])
    transport = make_transport(sink)
    with pytest.raises(TemporaryFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert info.value.error_type == "smtp_4xx"
    assert info.value.code == 451
    assert "Try again later" in info.value.reply
    assert not info.value.permanent
    assert sink.messages == []
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert len(sink.messages) == 1


async def test_550_is_permanent(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.default_reply = "550 5.1.1 User unknown"
    transport = make_transport(sink)
    with pytest.raises(PermanentFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert info.value.error_type == "smtp_5xx"
    assert info.value.code == 550
    assert info.value.permanent
    assert "User unknown" in info.value.reply


async def test_wrong_password_is_temporary_auth(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink, password="wrong")
    with pytest.raises(TemporaryFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert info.value.error_type == "auth"
    assert info.value.code == 535
    assert sink.messages == []


async def test_drop_then_reconnect(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.script(["drop"])
    transport = make_transport(sink)
    with pytest.raises(TemporaryFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(1))
    assert info.value.error_type == "connection"
    result = await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(2))
    assert result.code == 250
    assert sink.message_ids() == ["<2@example.com>"]
    assert sink.connections == 2


async def test_partial_refusal_succeeds(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.rcpt_rejects = {"bad@example.com": "550 5.1.1 no such user"}
    transport = make_transport(sink)
    result = await transport.send(
        sender=SENDER, recipients=["good@example.com", "bad@example.com"], raw=_raw()
    )
    assert result.refused == {"bad@example.com": (550, "5.1.1 no such user")}
    assert sink.messages[0].rcpt_tos == ["good@example.com"]


async def test_all_recipients_refused(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.rcpt_rejects = {
        "a@example.com": "550 5.1.1 no such user",
        "b@example.com": "550 5.1.1 no such user",
    }
    transport = make_transport(sink)
    with pytest.raises(PermanentFailure) as info:
        await transport.send(
            sender=SENDER, recipients=["a@example.com", "b@example.com"], raw=_raw()
        )
    assert info.value.error_type == "smtp_5xx"
    assert info.value.code == 550

    sink.rcpt_rejects["b@example.com"] = "450 4.2.1 mailbox busy"
    with pytest.raises(TemporaryFailure) as temp:
        await transport.send(
            sender=SENDER, recipients=["a@example.com", "b@example.com"], raw=_raw()
        )
    assert temp.value.error_type == "smtp_4xx"
    assert temp.value.code == 450
    assert sink.messages == []


async def test_server_not_listening() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none", timeout=2))
    with pytest.raises(TemporaryFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert info.value.error_type == "connection"
    assert info.value.code is None


async def test_slow_reply_times_out(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.script(["delay:5"])
    transport = make_transport(sink, timeout=0.3)
    with pytest.raises(TemporaryFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert info.value.error_type == "timeout"


async def test_no_starttls_offered_never_sends_in_clear(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink(security="none", users=None)
    transport = make_transport(sink, security="starttls", ca_file=None)
    with pytest.raises(TemporaryFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert info.value.error_type == "tls"
    assert "STARTTLS" in info.value.reply
    assert sink.messages == []


async def test_check_login(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    description = await make_transport(sink).check_login()
    assert description == f"logged in to {sink.hostname}:{sink.port} as alice over STARTTLS"
    assert sink.logins == 1

    with pytest.raises(TemporaryFailure) as info:
        await make_transport(sink, password="wrong").check_login()
    assert info.value.error_type == "auth"
    assert info.value.code == 535
    assert str(info.value).startswith("authentication failed: 535 5.7.8")


async def test_stale_idle_connection_is_replaced(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink, idle_check_seconds=0)
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(1))
    sink.close_connections()
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(2))
    assert sink.message_ids() == ["<1@example.com>", "<2@example.com>"]
    assert sink.connections == 2


async def test_idle_check_keeps_live_connection(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink, idle_check_seconds=0)
    for n in range(3):
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(n))
    assert sink.connections == 1


async def test_close_quits_pooled_connections(
    make_sink: Callable[..., SmtpSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink)
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(1))
    await transport.close()
    # A closed pool starts over with a fresh connection.
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(2))
    assert sink.connections == 2
    assert transport.connections_opened == 2
