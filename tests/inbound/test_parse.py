"""Parsing what real mail contains; fuzzed with hypothesis, it never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carteiro.inbound.mime import addresses, decode_bytes, decode_header_value, html_to_text
from carteiro.inbound.parse import parse_message


def test_encoded_words_wrong_charsets_and_raw_8bit_headers() -> None:
    raw = (
        b"From: =?iso-8859-1?q?Jo=E3o_Gon=E7alves?= <Joao@Example.COM>\r\n"
        b'To: "Silva, Maria" <maria@x.com.br>, bruno@x.com.br\r\n'
        b"Cc: =?x-unknown?q?Fulano?= <fulano@x.com.br>\r\n"
        b"Subject: Re: =?utf-8?b?T3LDp2FtZW50bw==?= \xe9 urgente\r\n"
        b"Message-ID:   <abc@x>  \r\n"
        b"References: <r1@x>\r\n\t<r2@x> garbage <r3@x>\r\n"
        b"Date: not a date\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Ol\xe1, isto n\xe3o \xe9 UTF-8 de verdade.\r\n"
    )
    p = parse_message(raw)
    assert p.sender is not None
    assert (p.sender.name, p.sender.email) == ("João Gonçalves", "joao@example.com")
    assert [(a.name, a.email) for a in p.to] == [
        ("Silva, Maria", "maria@x.com.br"),
        ("", "bruno@x.com.br"),
    ]
    assert p.cc[0].email == "fulano@x.com.br"
    assert p.subject == "Re: Orçamento é urgente"
    assert p.message_id == "<abc@x>"
    assert p.references == ["<r1@x>", "<r2@x>", "<r3@x>"]
    assert p.date is None
    # Declared UTF-8, really Windows-1252: decoded rather than replaced with U+FFFD.
    assert p.text == "Olá, isto não é UTF-8 de verdade.\n"


def test_nested_multiparts_html_only_attachments_and_inline_images() -> None:
    raw = (
        b"From: a@b.c\r\nSubject: aninhado\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
        b'--o\r\nContent-Type: multipart/related; boundary="r"\r\n\r\n'
        b'--r\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n'
        b"--a\r\nContent-Type: text/html; charset=windows-1252\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b'<html><head><style>p{color:red}</style></head><body><p onclick=3D"x()">Pre=E7o'
        b' <b>bom</b><script>alert(1)</script></p><img src=3D"cid:logo@x">'
        b'<a href=3D"javascript:alert(1)">clique</a></body></html>\r\n'
        b"--a--\r\n"
        b"--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
        b"--r--\r\n"
        b"--o\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''relat%C3%B3rio%20final.xlsx\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n"
        b"--o\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: x@y.z\r\nSubject: encaminhada\r\n\r\ncorpo interno\r\n"
        b"--o--\r\n"
    )
    p = parse_message(raw)
    assert p.html is not None
    assert "script" not in p.html and "onclick" not in p.html and "javascript" not in p.html
    assert "style" not in p.html
    assert 'src="cid:logo@x"' in p.html
    assert p.text == "Preço bom\nclique"
    assert p.snippet == "Preço bom clique"
    got = [(a.filename, a.content_type, a.inline, a.content_id) for a in p.attachments]
    assert got == [
        ("attachment", "image/png", True, "<logo@x>"),
        ("relatório final.xlsx", "application/octet-stream", False, None),
        ("message.eml", "message/rfc822", False, None),
    ]
    assert p.attachments[0].data == b"\x89PNG\r\n\x1a\n"
    assert b"corpo interno" in p.attachments[2].data
    assert "corpo interno" not in p.text  # an enclosed message is not our body


def test_broken_structure_is_reported_not_raised() -> None:
    raw = (
        b"Subject: sem fronteira\r\nContent-Type: multipart/mixed\r\n\r\n"
        b"texto solto sem boundary\r\n"
    )
    p = parse_message(raw)
    assert "texto solto" in p.text
    assert p.defects
    assert parse_message(b"").text == ""
    assert parse_message(b"\x00\xff\xfe garbage").sender is None


def test_deep_nesting_is_cut_off() -> None:
    depth = 200
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    p = parse_message(b"Subject: fundo\r\n" + head + b"Content-Type: text/plain\r\n\r\nfim\r\n")
    assert "too deeply nested or too many parts" in p.defects


def test_hostile_address_headers_cost_bounded_work() -> None:
    # 400,000 characters without an `@`: the old bare-address regex backtracked from every
    # start position (quadratic, about ten minutes per header). No time is asserted: with
    # the old code this test does not finish in any normal run.
    junk = "x" * 400_000
    raw = (
        f'From: {junk}\r\nSender: "{junk}\r\nTo: {junk}\r\nCc: ({junk}\r\n'
        f"Reply-To: {'a.' * 200_000}\r\nSubject: oi\r\n\r\nbody\r\n"
    ).encode()
    p = parse_message(raw)
    assert (p.sender, p.to, p.cc, p.reply_to) == (None, [], [], [])
    assert p.text == "body\n"
    # A bare address among junk is still found; one past the cap is not looked for.
    assert addresses("lixo " + "y" * 20_000 + " ana@cliente.com.br") == [("", "ana@cliente.com.br")]
    assert addresses("y" * 40_000 + " ana@cliente.com.br") == []


def test_decoders() -> None:
    assert decode_bytes(b"caf\xc3\xa9", "latin-1") == "cafÃ©"
    assert decode_bytes(b"caf\xe9", "utf-8") == "café"
    assert decode_bytes(b"caf\xe9", "rot13") == "café"  # not a text encoding: ignored
    assert decode_header_value("=?utf-8?q?a=0Db?= c\r\n d") == "a b c d"
    assert addresses("Fulano <FULANO@X.COM>, <bad>, sicrano@y.com") == [
        ("Fulano", "fulano@x.com"),
        ("", "sicrano@y.com"),
    ]
    assert html_to_text("<p>a</p><p>b<br>c</p>") == "a\n\nb\nc"


_header_names = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Subject",
        "Message-ID",
        "References",
        "In-Reply-To",
        "Date",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "X-Custom",
    ]
)
_header_values = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            "multipart/mixed; boundary=x",
            'multipart/alternative; boundary="y"',
            "text/html; charset=bogus",
            "text/plain; charset*=utf-8''%FF",
            "message/rfc822",
            "multipart/report; report-type=delivery-status; boundary=z",
            "base64",
            "quoted-printable",
            "=?utf-8?b?!!!?=",
            "=?unknown?q?=FF=FE?=",
            "attachment; filename*=x''%",
            "<a@b> <c@d",
        ]
    ),
)
_bodies = st.one_of(
    st.binary(max_size=400),
    st.lists(
        st.sampled_from(
            [
                b"--x\r\n",
                b"--y\r\n",
                b"--z\r\n",
                b"--x--\r\n",
                b"Content-Type: text/plain\r\n",
                b"Content-Type: message/delivery-status\r\n",
                b"\r\n",
                b"=E9=\r\n",
                b"aGVsbG8=\r\n",
                b"Final-Recipient: rfc822; a@b\r\n",
                b"Status: 5.1.1\r\n",
                b"<html><p>oi",
            ]
        ),
        max_size=30,
    ).map(b"".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_header_names, _header_values), max_size=12), _bodies)
def test_fuzzed_messages_never_raise(headers: list[tuple[str, str]], body: bytes) -> None:
    raw = b"".join(
        f"{name}: {value}".encode("utf-8", "surrogateescape") + b"\r\n" for name, value in headers
    )
    parsed = parse_message(raw + b"\r\n" + body)
    assert isinstance(parsed.text, str)
    assert isinstance(parsed.subject, str)
    assert "\r" not in parsed.subject and "\n" not in parsed.subject
    assert all(len(i) <= 255 for i in parsed.references)
    from carteiro.inbound.reports import detect

    detect(parsed)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert isinstance(parsed.snippet, str)
    assert len(parsed.snippet) <= 200
