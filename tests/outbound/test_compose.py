"""Tests for building outgoing messages, checked by parsing the bytes back with Python's parser."""

from __future__ import annotations

import base64
import email
import email.policy
import random
import re
import string
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from carteiro.errors import InvalidInput, TooLarge
from carteiro.mail import compose
from carteiro.mail.compose import (
    Attachment,
    check_custom_header,
    check_header_value,
    compose_message,
    make_message_id,
)

WHEN = datetime(2024, 3, 5, 14, 30, 0, tzinfo=UTC)
PDF = bytes(range(256)) * 4


def _compose(**overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "from_addr": "joao@example.com",
        "from_name": "João Ação",
        "to": ["ana@example.com", "bob@example.org"],
        "cc": [],
        "subject": "Reunião às 15h — ação",
        "text": "Olá, tudo bem?\nAté já.",
        "message_id": "<abc.123@example.com>",
        "date": WHEN,
    }
    args.update(overrides)
    return compose_message(**args)


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _body(part: EmailMessage) -> str:
    """Decoded text with the wire's CRLF turned back into the newlines the caller sent."""
    return part.get_content().replace("\r\n", "\n").rstrip("\n")


def _header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def test_headers_decode_back() -> None:
    raw = _compose(
        cc=["carla@example.net"],
        reply_to=["replies@example.com"],
        headers={"X-Campaign": "spring"},
    )
    msg = _parse(raw)
    sender = msg["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("João Ação", "joao@example.com")
    assert [a.addr_spec for a in msg["To"].addresses] == ["ana@example.com", "bob@example.org"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["carla@example.net"]
    assert str(msg["Subject"]) == "Reunião às 15h — ação"
    assert parsedate_to_datetime(str(msg["Date"])) == WHEN
    assert msg["Message-ID"] == "<abc.123@example.com>"
    assert msg["MIME-Version"] == "1.0"
    assert [a.addr_spec for a in msg["Reply-To"].addresses] == ["replies@example.com"]
    assert msg["X-Campaign"] == "spring"
    assert _header_block(raw).isascii()


def test_header_order() -> None:
    raw = _compose(cc=["c@example.com"], reply_to=["r@example.com"], headers={"X-A": "1"})
    names = [n for n, _ in _parse(raw).items()]
    assert names == [
        "From",
        "To",
        "Cc",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Reply-To",
        "X-A",
        "Content-Type",
        "Content-Transfer-Encoding",
    ]


def test_no_cc_reply_to_or_bcc_unless_given() -> None:
    raw = _compose()
    msg = _parse(raw)
    assert msg["Cc"] is None and msg["Reply-To"] is None
    assert b"bcc" not in raw.lower()
    assert _parse(_compose(to=[], cc=["c@example.com"]))["To"] is None


def test_text_only_is_text_plain() -> None:
    msg = _parse(_compose(text="Hello there"))
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Content-Transfer-Encoding"] == "7bit"
    assert _body(msg) == "Hello there"


def test_text_and_html_is_alternative_text_first() -> None:
    msg = _parse(_compose(html="<p>Olá <b>mundo</b></p>"))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert _body(parts[0]) == "Olá, tudo bem?\nAté já."
    assert _body(parts[1]) == "<p>Olá <b>mundo</b></p>"
    assert all(p["MIME-Version"] is None for p in parts)


def test_attachment_round_trips_name_and_bytes() -> None:
    pdf = Attachment("relatório_março.pdf", "application/pdf", PDF)
    raw = _compose(html="<p>oi</p>", attachments=[pdf])
    msg = _parse(raw)
    assert msg.get_content_type() == "multipart/mixed"
    first, second = msg.iter_parts()
    assert first.get_content_type() == "multipart/alternative"
    assert second.get_content_type() == "application/pdf"
    assert second["Content-Transfer-Encoding"] == "base64"
    assert second.get_filename() == "relatório_março.pdf"
    assert second.get_content() == PDF
    assert b"filename*=utf-8''relat%C3%B3rio_mar%C3%A7o.pdf" in raw


def test_text_with_attachments_is_mixed_text_first() -> None:
    files = [
        Attachment("a.txt", "text/plain", b"one"),
        Attachment("b.bin", "application/octet-stream", b"\x00two"),
    ]
    msg = _parse(_compose(attachments=files))
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "text/plain",
        "application/octet-stream",
    ]
    assert [p.get_filename() for p in msg.iter_attachments()] == ["a.txt", "b.bin"]
    assert [p.get_content() for p in parts[1:]] == ["one", b"\x00two"]


def test_crlf_and_line_limits_with_very_long_lines() -> None:
    text = "x" * 5000
    html = "<p>" + "ação " * 2000 + "</p>"
    raw = _compose(text=text, html=html, attachments=[Attachment("f.bin", "image/png", PDF)])
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    plain, rich = _parse(raw).get_body(("plain",)), _parse(raw).get_body(("html",))
    assert plain is not None and rich is not None
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert _body(plain) == text
    assert _body(rich) == html


def test_mostly_ascii_text_with_accents_uses_quoted_printable() -> None:
    text = "Olá, segue o relatório de março conforme combinado na reunião. " * 40
    msg = _parse(_compose(text=text.strip()))
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert _body(msg) == text.strip()


def test_mostly_non_ascii_text_uses_base64() -> None:
    text = "日本語のテキストです。" * 50
    msg = _parse(_compose(text=text))
    assert msg["Content-Transfer-Encoding"] == "base64"
    assert _body(msg) == text


def test_long_subject_and_name_fold_and_decode() -> None:
    subject = "Relatório trimestral de operações — " * 6
    raw = _compose(subject=subject.strip(), from_name="Equipe de Suporte Técnico da Organização")
    msg = _parse(raw)
    assert str(msg["Subject"]) == subject.strip()
    assert msg["From"].addresses[0].display_name == "Equipe de Suporte Técnico da Organização"
    assert max(len(line) for line in _header_block(raw).split(b"\r\n")) <= 78


def test_long_ascii_custom_header_is_not_encoded() -> None:
    url = "<https://example.com/unsubscribe?token=" + "t" * 120 + ">"
    raw = _compose(headers={"List-Unsubscribe": url, "X-Note": "olá mundo"})
    msg = _parse(raw)
    assert msg["List-Unsubscribe"] == url
    assert msg["X-Note"] == "olá mundo"
    assert b"List-Unsubscribe: <https://example.com/unsubscribe?token=" in raw


def test_idn_sender_domain_is_punycode() -> None:
    msg = _parse(_compose(from_addr="joao@münchen.de"))
    assert msg["From"].addresses[0].addr_spec == "joao@xn--mnchen-3ya.de"


def test_date_defaults_to_now_and_naive_means_utc() -> None:
    sent = parsedate_to_datetime(str(_parse(_compose(date=None))["Date"]))
    assert abs(sent - datetime.now(UTC)) < timedelta(seconds=5)
    naive = datetime(2024, 1, 2, 3, 4, 5)
    parsed = parsedate_to_datetime(str(_parse(_compose(date=naive))["Date"]))
    assert parsed == naive.replace(tzinfo=UTC)


def test_make_message_id() -> None:
    first, second = make_message_id("mail.example.com"), make_message_id("mail.example.com")
    assert re.fullmatch(r"<[0-9a-f]{32}\.\d+@mail\.example\.com>", first)
    assert first != second
    assert _parse(_compose(message_id=first))["Message-ID"] == first
    assert make_message_id("münchen.de").endswith("@xn--mnchen-3ya.de>")
    with pytest.raises(InvalidInput):
        make_message_id("bad domain>")


@pytest.mark.parametrize("bad", ["abc@example.com", "<no-at-sign>", "<a@b>\r\nX: y", "<a b@c>"])
def test_bad_message_id_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _compose(message_id=bad)
    assert err.value.field == "message_id"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject": "Olá\r\nBcc: victim@example.org"}, "subject"),
        ({"subject": "line\nbreak"}, "subject"),
        ({"subject": "sep\u2028arator"}, "subject"),
        ({"subject": "nul\x00"}, "subject"),
        ({"headers": {"X-Tag": "a\r\nBcc: victim@example.org"}}, "headers.X-Tag"),
        ({"from_name": "João\r\nBcc: victim@example.org"}, "from_name"),
        ({"from_name": "João\n"}, "from_name"),
        ({"to": ["ok@example.com", "a@example.com\r\nBcc: x@example.org"]}, "to[1]"),
        ({"cc": ["bob@"]}, "cc[0]"),
        ({"reply_to": ["nope"]}, "reply_to[0]"),
        ({"from_addr": "not-an-address"}, "from_addr"),
        ({"text": "bad \udcff surrogate"}, "text"),
    ],
)
def test_line_breaks_and_bad_values_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _compose(**overrides)
    assert err.value.field == field
    assert err.value.message.startswith(f"{field}: ")


def test_tab_allowed_in_header_values() -> None:
    check_header_value("Subject", "a\tb")
    assert _parse(_compose(headers={"X-Tab": "a\tb"}))["X-Tab"] == "a\tb"


@pytest.mark.parametrize("name", ["X Bad", "X:Bad", "", "X-Ünï", "X-\r\nBcc", "X" * 77])
def test_bad_header_names_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _compose(headers={name: "v"})
    assert err.value.field == "headers"


@pytest.mark.parametrize(
    "name",
    [
        "From",
        "to",
        "CC",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "content-transfer-encoding",
        "Reply-To",
        "Sender",
    ],
)
def test_structural_headers_cannot_be_overridden(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_custom_header(name, "x")
    assert err.value.field == "headers"
    assert name in err.value.message


def test_word_too_long_for_a_header_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        _compose(headers={"X-Huge": "a" * 1200})
    assert err.value.field == "headers.X-Huge"


def test_attachment_from_base64() -> None:
    encoded = base64.b64encode(PDF).decode()
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + "\r\n"
    att = Attachment.from_base64(
        "Relatório.PDF", "Application/PDF", wrapped, field="attachments[0]"
    )
    assert att == Attachment("Relatório.PDF", "application/pdf", PDF)


@pytest.mark.parametrize(
    ("filename", "content_type", "content", "field"),
    [
        ("a.pdf", "application/pdf", "not base64!", "attachments[2].content_base64"),
        ("a.pdf", "application/pdf", "QUJD=", "attachments[2].content_base64"),
        ("a.pdf", "application/pdf", "QUJDRA", "attachments[2].content_base64"),
        ("a.pdf", "application/pdf", "ção", "attachments[2].content_base64"),
        ("a.pdf", "pdf", "QUJD", "attachments[2].content_type"),
        ("a.pdf", "application/pdf; name=x", "QUJD", "attachments[2].content_type"),
        ("a.eml", "message/rfc822", "QUJD", "attachments[2].content_type"),
        ("a.bin", "multipart/mixed", "QUJD", "attachments[2].content_type"),
        ("../etc/passwd", "text/plain", "QUJD", "attachments[2].filename"),
        ("dir\\a.txt", "text/plain", "QUJD", "attachments[2].filename"),
        ("a\r\nX: y.txt", "text/plain", "QUJD", "attachments[2].filename"),
        ("", "text/plain", "QUJD", "attachments[2].filename"),
        ("=?utf-8?q?x?=.txt", "text/plain", "QUJD", "attachments[2].filename"),
    ],
)
def test_attachment_from_base64_refusals(
    filename: str, content_type: str, content: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        Attachment.from_base64(filename, content_type, content, field="attachments[2]")
    assert err.value.field == field


def test_attachment_checked_again_when_composing() -> None:
    with pytest.raises(InvalidInput) as err:
        _compose(
            attachments=[Attachment("ok.txt", "text/plain", b""), Attachment("a/b", "x/y", b"")]
        )
    assert err.value.field == "attachments[1].filename"


def test_max_bytes() -> None:
    files = [Attachment("big.bin", "application/octet-stream", b"\x00" * 30_000)]
    raw = _compose(attachments=files)
    # Boundaries are random but fixed-width, so the size is the same on every run.
    assert len(_compose(attachments=files, max_bytes=len(raw))) == len(raw)
    with pytest.raises(TooLarge) as err:
        _compose(attachments=files, max_bytes=len(raw) - 1)
    assert err.value.field == "attachments"
    with pytest.raises(TooLarge):
        _compose(attachments=files, max_bytes=30_000)


def test_short_ascii_free_text_is_folded_as_the_email_package_folds_it() -> None:
    """The subject's shortcut (short printable ASCII written as it is) against the email
    package's own folder, over edge cases and a seeded corpus of punctuation and spaces."""

    def folded(value: str) -> str:
        return str(compose._UNSTRUCTURED("Subject", value).fold(policy=email.policy.SMTP))

    edge = ["", " ", "a", " lead", "trail ", "a  b", "=?utf-8?q?x?=", "x=?y", '(c) "q" \\']
    edge += ["x" * 69, "x" * 70, "y " * 34 + "z", "Contato 12, a oferta da semana"]
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + string.punctuation + "   "
    corpus = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(3000)]
    shortcut = 0
    for value in edge + corpus:
        assert compose._fold_unstructured("Subject", value) == folded(value), value
        shortcut += len(value) <= 69 and "=?" not in value and value != ""
    assert shortcut > 1000  # the corpus does exercise the shortcut
