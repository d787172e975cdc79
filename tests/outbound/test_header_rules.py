"""Trace and authentication headers, and file names with hidden direction marks, are refused."""

from __future__ import annotations

import pytest

from carteiro.errors import InvalidInput
from carteiro.mail.attachments import Attachment
from carteiro.mail.compose import check_custom_header

TRACE = [
    "Received",
    "X-Received",
    "Authentication-Results",
    "DKIM-Signature",
    "dkim-signature",
    "DomainKey-Signature",
    "ARC-Seal",
    "ARC-Message-Signature",
    "ARC-Authentication-Results",
    "Return-Path",
    "Received-SPF",
    "Delivered-To",
    "Resent-From",
    "Resent-Message-ID",
]


@pytest.mark.parametrize("name", TRACE)
def test_trace_and_authentication_headers_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_custom_header(name, "by mx.example.com")
    assert err.value.field == "headers" and name in err.value.message


@pytest.mark.parametrize("name", ["X-Campaign", "List-Unsubscribe", "X-Arc", "Receivedx"])
def test_other_custom_headers_still_pass(name: str) -> None:
    check_custom_header(name, "value")


@pytest.mark.parametrize(
    "filename",
    [
        "invoice\u202efdp.exe",  # RIGHT-TO-LEFT OVERRIDE
        "a\u202ab.pdf",
        "a\u202bb.pdf",
        "a\u202cb.pdf",
        "a\u202db.pdf",
        "a\u2066b.pdf",  # LEFT-TO-RIGHT ISOLATE
        "a\u2067b.pdf",
        "a\u2068b.pdf",
        "a\u2069b.pdf",
        "a\u200fb.pdf",  # RIGHT-TO-LEFT MARK
        "a\tb.pdf",
        "a\x00b.pdf",
        "a\x1bb.pdf",
        "a\x85b.pdf",
    ],
)
def test_file_names_with_direction_marks_or_controls_are_refused(filename: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Attachment.from_base64(filename, "application/pdf", "QUJD", field="attachments[1]")
    assert err.value.field == "attachments[1].filename"


def test_ordinary_unicode_file_names_pass() -> None:
    for name in ["relatório_março.pdf", "תמונה.png", "写真 2024.jpg", "foto😀.png"]:
        assert Attachment.from_base64(name, "image/png", "QUJD", field="a").filename == name
