"""PIPELINING (RFC 2920) in SmtpTransport, against the pipelining sink and the latency proxy."""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from collections.abc import Callable

import pytest

from carteiro.mail.transports.base import PermanentFailure, SendResult, TemporaryFailure
from carteiro.mail.transports.pipelining import data_payload
from carteiro.mail.transports.smtp import SmtpTransport
from carteiro.testing.latency_proxy import LatencyProxy
from carteiro.testing.pipelining_sink import PipeliningSink

USERS = {"alice": "s3cret"}
SENDER = "from@example.com"
RCPT = ["to@example.com"]


def _raw(n: int = 0, body: str = "") -> bytes:
    text = body or f"body {n}\r\n"
    return f"Message-ID: <{n}@example.com>\r\nSubject: test {n}\r\n\r\n{text}".encode()


@pytest.fixture
def make_sink(sink_factory: Callable[..., PipeliningSink]) -> Callable[..., PipeliningSink]:
    return functools.partial(sink_factory, PipeliningSink)


async def _round_trips_per_message(sink: PipeliningSink, transport: SmtpTransport) -> float:
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(0))  # connect and log in
    before = sink.round_trips
    for n in range(1, 11):
        await transport.send(
            sender=SENDER, recipients=["a@example.com", "b@example.com"], raw=_raw(n)
        )
    return (sink.round_trips - before) / 10


async def test_pipelines_when_offered(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    piped = make_sink()
    plain = make_sink(pipelining=False)
    piped_trips = await _round_trips_per_message(piped, make_transport(piped))
    plain_trips = await _round_trips_per_message(plain, make_transport(plain))
    assert piped.client_pipelined
    assert not plain.client_pipelined
    # Envelope in one write, then the message: 2 waits instead of MAIL, RCPT×2, DATA, body.
    assert piped_trips == 2
    assert plain_trips == 5
    assert len(piped.message_ids()) == 11
    assert piped.messages[-1].rcpt_tos == ["a@example.com", "b@example.com"]
    assert piped.connections == 1


async def test_pipelining_can_be_turned_off(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink, pipelining=False)
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert not sink.client_pipelined
    assert sink.message_ids() == ["<0@example.com>"]


async def test_body_arrives_byte_for_byte(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink)
    body = ".leading dot\r\n..two dots\r\n.\r\nmiddle\r\nlone\nnewline\r\nend"
    raw = _raw(7, body)
    await transport.send(sender=SENDER, recipients=RCPT, raw=raw)
    expected = raw.replace(b"lone\nnewline", b"lone\r\nnewline") + b"\r\n"
    assert sink.messages[0].data == expected


async def test_partial_recipient_refusal(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.rcpt_rejects = {"bad@example.com": "550 5.1.1 no such user"}
    transport = make_transport(sink)
    result = await transport.send(
        sender=SENDER, recipients=["good@example.com", "bad@example.com"], raw=_raw()
    )
    assert result.code == 250
    assert result.refused == {"bad@example.com": (550, "5.1.1 no such user")}
    assert sink.messages[0].rcpt_tos == ["good@example.com"]
    assert sink.client_pipelined


async def test_all_recipients_refused(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.rcpt_rejects = {
        "a@example.com": "550 5.1.1 no such user",
        "b@example.com": "550 5.1.1 no such user",
    }
    transport = make_transport(sink)
    both = ["a@example.com", "b@example.com"]
    with pytest.raises(PermanentFailure) as info:
        await transport.send(sender=SENDER, recipients=both, raw=_raw())
    assert (info.value.error_type, info.value.code) == ("smtp_5xx", 550)
    assert "a@example.com: 550" in info.value.reply

    sink.rcpt_rejects["b@example.com"] = "450 4.2.1 mailbox busy"
    with pytest.raises(TemporaryFailure) as temp:
        await transport.send(sender=SENDER, recipients=both, raw=_raw())
    assert (temp.value.error_type, temp.value.code) == ("smtp_4xx", 450)
    assert sink.messages == []
    # Refusals leave the session in step: the same connection sends the next message.
    await transport.send(sender=SENDER, recipients=["c@example.com"], raw=_raw(1))
    assert sink.message_ids() == ["<1@example.com>"]
    assert sink.connections == 1


async def test_data_accepted_without_recipients_sends_nothing(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.rcpt_rejects = {"a@example.com": "550 5.1.1 no such user"}
    sink.data_reply = "354 go ahead anyway"
    transport = make_transport(sink)
    with pytest.raises(PermanentFailure) as info:
        await transport.send(sender=SENDER, recipients=["a@example.com"], raw=_raw())
    assert info.value.code == 550
    assert sink.messages == []


@pytest.mark.parametrize(
    ("where", "reply", "kind", "code"),
    [
        ("mail", "451 4.3.0 sender check deferred", TemporaryFailure, 451),
        ("mail", "553 5.7.1 sender not allowed", PermanentFailure, 553),
        ("rcpt", "452 4.5.3 too many recipients", TemporaryFailure, 452),
        ("rcpt", "550 5.1.1 unknown user", PermanentFailure, 550),
        ("data", "451 4.3.0 not now", TemporaryFailure, 451),
        ("data", "554 5.6.0 content refused", PermanentFailure, 554),
        ("final", "451 4.3.0 try later", TemporaryFailure, 451),
        ("final", "552 5.3.4 too big", PermanentFailure, 552),
        ("final", "421 4.7.0 closing", TemporaryFailure, 421),
    ],
)
async def test_replies_at_each_step_are_classified(
    make_sink: Callable[..., PipeliningSink],
    make_transport: Callable[..., SmtpTransport],
    where: str,
    reply: str,
    kind: type[Exception],
    code: int,
) -> None:
    sink = make_sink()
    if where == "mail":
        sink.mail_reply = reply
    elif where == "rcpt":
        sink.rcpt_rejects = {RCPT[0]: reply}
    elif where == "data":
        sink.data_reply = reply
    else:
        sink.script([reply])
    transport = make_transport(sink)
    with pytest.raises(kind) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    failure = info.value
    assert isinstance(failure, TemporaryFailure | PermanentFailure)
    assert failure.code == code
    assert failure.error_type == ("smtp_4xx" if code < 500 else "smtp_5xx")
    assert reply.split(" ", 2)[2] in failure.reply
    assert sink.messages == []
    assert sink.client_pipelined

    sink.mail_reply = sink.data_reply = None
    sink.rcpt_rejects = {}
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(1))
    assert sink.message_ids() == ["<1@example.com>"]
    # Only a server that said it is closing (421) costs a new connection.
    assert sink.connections == (2 if code == 421 else 1)


async def test_dropped_connection_is_temporary_and_replaced(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.script(["drop"])
    transport = make_transport(sink)
    with pytest.raises(TemporaryFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(1))
    assert info.value.error_type == "connection"
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(2))
    assert sink.message_ids() == ["<2@example.com>"]
    assert sink.connections == 2


async def test_slow_reply_times_out(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    sink.script(["delay:3"])
    transport = make_transport(sink, timeout=0.3)
    with pytest.raises(TemporaryFailure) as info:
        await transport.send(sender=SENDER, recipients=RCPT, raw=_raw())
    assert info.value.error_type == "timeout"


async def test_bad_address_is_permanent_and_keeps_the_session(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink)
    with pytest.raises(PermanentFailure):
        await transport.send(sender=SENDER, recipients=["a b@example.com"], raw=_raw())
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(1))
    assert sink.message_ids() == ["<1@example.com>"]
    assert sink.connections == 1


async def test_idle_connections_are_checked_and_replaced(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink, idle_check_seconds=0)
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(1))
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(2))
    assert sink.connections == 1  # NOOP found the connection alive
    sink.close_connections()
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(3))
    assert len(sink.message_ids()) == 3
    assert sink.connections == 2


async def test_concurrent_sends_through_the_latency_proxy(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    with LatencyProxy(sink.hostname, sink.port, rtt_ms=5) as proxy:
        transport = make_transport(sink, port=proxy.port, max_connections=3)
        big = "x" * 200_000 + "\r\n"
        raws = [_raw(n, big if n % 5 == 0 else "") for n in range(30)]
        await asyncio.gather(*(transport.send(sender=SENDER, recipients=RCPT, raw=r) for r in raws))
        await transport.close()
    assert sorted(m.data for m in sink.messages) == sorted(raws)
    assert sink.connections == 3
    assert proxy.connections == 3


async def test_busy_connection_pipelines_across_messages(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink, max_connections=1)
    await transport.send(sender=SENDER, recipients=RCPT, raw=_raw(0))  # connect and log in
    before = sink.round_trips
    raws = [_raw(n) for n in range(1, 21)]
    await asyncio.gather(*(transport.send(sender=SENDER, recipients=RCPT, raw=r) for r in raws))
    trips = sink.round_trips - before
    # Alone, a message costs 2 round trips (40 here). With sends waiting, each body carries
    # the next envelope: one round trip per message, plus the first envelope.
    assert trips <= 24, trips
    assert [m.data for m in sink.messages[1:]] == raws  # in order, byte for byte
    assert sink.connections == 1


async def test_failures_inside_a_pipeline_touch_only_their_message(
    make_sink: Callable[..., PipeliningSink], make_transport: Callable[..., SmtpTransport]
) -> None:
    sink = make_sink()
    transport = make_transport(sink, max_connections=1)
    sink.script(["250 2.0.0 OK", "550 5.6.0 Content rejected", "451 4.3.0 Try again later"])
    results = await asyncio.gather(
        *(transport.send(sender=SENDER, recipients=RCPT, raw=_raw(n)) for n in range(6)),
        return_exceptions=True,
    )
    assert isinstance(results[1], PermanentFailure) and results[1].code == 550
    assert isinstance(results[2], TemporaryFailure) and results[2].code == 451
    assert all(isinstance(results[n], SendResult) for n in (0, 3, 4, 5))
    assert sink.message_ids() == [f"<{n}@example.com>" for n in (0, 3, 4, 5)]
    assert sink.connections == 1  # the session survived both refusals


@pytest.mark.parametrize("fault", ["drop", "421 4.7.0 Too busy, closing connection"])
async def test_envelope_riding_on_a_lost_connection_is_sent_on_another(
    make_sink: Callable[..., PipeliningSink],
    make_transport: Callable[..., SmtpTransport],
    fault: str,
) -> None:
    sink = make_sink()
    transport = make_transport(sink, max_connections=1)
    sink.script([fault])
    results = await asyncio.gather(
        *(transport.send(sender=SENDER, recipients=RCPT, raw=_raw(n)) for n in range(4)),
        return_exceptions=True,
    )
    # The message whose body was answered with the fault failed (temporarily): its fate is
    # unknown to us. The next one had only its envelope written, so it went out on a new
    # connection without a failure of its own.
    assert isinstance(results[0], TemporaryFailure)
    assert all(isinstance(r, SendResult) for r in results[1:]), results
    assert sink.message_ids() == [f"<{n}@example.com>" for n in (1, 2, 3)]
    assert sink.connections == 2


def test_data_payload_stuffs_and_sizes() -> None:
    payload, size = data_payload(b".a\r\nb\n.c")
    assert payload == b"..a\r\nb\r\n..c\r\n.\r\n"
    assert size == len(b".a\r\nb\r\n.c\r\n")
    assert data_payload(b"x\r\n") == (b"x\r\n.\r\n", 3)


def _chat(sock: socket.socket, data: bytes, replies: int = 1) -> bytes:
    """Send `data`, then read until `replies` complete replies (multi-line ones count once)."""
    sock.sendall(data)
    received = b""
    while sum(1 for line in received.split(b"\r\n")[:-1] if line[3:4] != b"-") < replies:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_sink_requires_starttls_and_auth(make_sink: Callable[..., PipeliningSink]) -> None:
    sink = make_sink()
    with socket.create_connection((sink.hostname, sink.port)) as raw_sock:
        assert raw_sock.recv(1024).startswith(b"220")
        ehlo = _chat(raw_sock, b"EHLO me\r\n")
        assert b"STARTTLS" in ehlo and b"PIPELINING" in ehlo and b"AUTH" not in ehlo
        assert _chat(raw_sock, b"MAIL FROM:<a@b.c>\r\n").startswith(b"530")
        assert _chat(raw_sock, b"STARTTLS\r\n").startswith(b"220")
        context = ssl.create_default_context(cafile=str(sink.cert_path))
        with context.wrap_socket(raw_sock, server_hostname=sink.hostname) as tls:
            assert b"AUTH PLAIN LOGIN" in _chat(tls, b"EHLO me\r\n")
            assert _chat(tls, b"MAIL FROM:<a@b.c>\r\n").startswith(b"530")
            assert _chat(tls, b"AUTH LOGIN\r\n").startswith(b"334")
            assert _chat(tls, b"YWxpY2U=\r\n").startswith(b"334")  # alice
            assert _chat(tls, b"czNjcmV0\r\n").startswith(b"235")  # s3cret
            replies = _chat(
                tls, b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@h.i>\r\nDATA\r\n", 4
            )
            assert [r[:3] for r in replies.split(b"\r\n") if r] == [b"250", b"250", b"250", b"354"]
            assert _chat(tls, b"Message-ID: <x@y>\r\n\r\n..dot\r\n.\r\n").startswith(b"250")
            assert _chat(tls, b"QUIT\r\n").startswith(b"221")
    assert sink.message_ids() == ["<x@y>"]
    assert sink.messages[0].data == b"Message-ID: <x@y>\r\n\r\n.dot\r\n"
    assert sink.messages[0].rcpt_tos == ["d@e.f", "g@h.i"]
    assert sink.client_pipelined
    assert sink.logins == 1


def test_sink_fault_shares(make_sink: Callable[..., PipeliningSink]) -> None:
    sink = make_sink(users=None, tls=False, seed=3)
    sink.fail_share = 0.5
    sink.fail_replies = ("451 4.3.0 try again",)
    codes = []
    with socket.create_connection((sink.hostname, sink.port)) as conn:
        conn.recv(1024)
        _chat(conn, b"EHLO me\r\n")
        for _ in range(40):
            _chat(conn, b"MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n", 3)
            codes.append(_chat(conn, b"hi\r\n.\r\n")[:3])
    assert codes.count(b"451") + codes.count(b"250") == 40
    assert 0 < codes.count(b"451") < 40
    assert sink.count == codes.count(b"250")
