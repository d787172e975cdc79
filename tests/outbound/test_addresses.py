"""Tests for address parsing, display-name formatting and allow-list patterns."""

from __future__ import annotations

import email
import email.policy
import re
from email.header import decode_header, make_header

import pytest
from email_validator import EmailNotValidError, validate_email

from carteiro.errors import InvalidInput
from carteiro.mail import addresses
from carteiro.mail.addresses import (
    domain_of,
    format_address,
    matches_pattern,
    parse_address,
    parse_addresses,
)


def _display_name(header_value: str) -> str:
    raw = f"From: {header_value}\r\n\r\n".encode("ascii")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return parsed["From"].addresses[0].display_name


@pytest.mark.parametrize(
    "value",
    [
        ["a@example.com", "b@example.org"],
        "a@example.com, b@example.org",
        "a@example.com; b@example.org",
        " a@example.com ;, ,b@example.org , ",
        ["", "a@example.com", "  ", "b@example.org"],
        'Alice <a@example.com>, "Org, B" <b@example.org>',
    ],
)
def test_lists_and_separated_strings(value: str | list[str]) -> None:
    assert parse_addresses(value, field="to") == ["a@example.com", "b@example.org"]


@pytest.mark.parametrize("value", [None, "", "  , ; ", []])
def test_nothing_gives_empty_list(value: str | list[str] | None) -> None:
    assert parse_addresses(value, field="cc") == []


def test_name_forms_return_bare_address() -> None:
    assert parse_addresses(["João Ação <joao@example.com>"], field="to") == ["joao@example.com"]
    assert parse_addresses('"Doe, John" <j@example.com>', field="to") == ["j@example.com"]
    assert parse_addresses("<bare@example.com>", field="to") == ["bare@example.com"]


def test_local_part_kept_domain_lowered() -> None:
    assert parse_addresses("Alice.Smith@Example.COM", field="to") == ["Alice.Smith@example.com"]


def test_idn_domain_becomes_ascii() -> None:
    assert parse_addresses("user@München.de", field="to") == ["user@xn--mnchen-3ya.de"]


def test_duplicates_dropped_in_order() -> None:
    value = ["b@example.com", "a@example.com", "B@Example.com", "Bee <b@example.com>"]
    assert parse_addresses(value, field="to") == ["b@example.com", "a@example.com"]
    assert parse_addresses("u@münchen.de, u@xn--mnchen-3ya.de", field="to") == [
        "u@xn--mnchen-3ya.de"
    ]


def test_invalid_list_item_names_the_index() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_addresses(["a@example.com", "bob@"], field="cc_emails")
    assert err.value.field == "cc_emails[1]"
    assert err.value.message.startswith("cc_emails[1]: 'bob@' is not a valid e-mail address")


def test_invalid_string_entry_names_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_addresses("a@example.com, bob@", field="to_email")
    assert err.value.field == "to_email"
    assert "'bob@'" in err.value.message


@pytest.mark.parametrize(
    "bad",
    [
        "bob",
        "a@b@example.com",
        "a b@example.com",
        "Name <a@example.com",
        "Alice <a@example.com> extra",
        "Name <a b@example.com>",
        '"Bob" bob@example.com',
        "ä@example.com",
        "a@localhost",
    ],
)
def test_malformed_addresses_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_addresses([bad], field="to")
    assert err.value.field == "to[0]"


def test_list_item_with_comma_is_one_bad_address() -> None:
    with pytest.raises(InvalidInput):
        parse_addresses(["Doe, John <j@example.com>"], field="to")


@pytest.mark.parametrize(
    "value",
    [
        "a@example.com\r\nBcc: victim@example.org",
        "a@example.com\nb@example.com",
        "a@example.com\r",
        ["ok@example.com", "Eve\r\n <e@example.com>"],
        "a@example.com\u2028",
        "a\x00@example.com",
    ],
)
def test_line_breaks_and_controls_refused(value: str | list[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_addresses(value, field="to")
    assert err.value.field in ("to", "to[1]")


def test_non_text_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_addresses(42, field="to")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as err:
        parse_addresses(["a@example.com", None], field="to")  # type: ignore[list-item]
    assert err.value.field == "to[1]"


def test_parse_address_exactly_one() -> None:
    assert parse_address(" Ana <Ana@Example.com> ", field="from_email") == "Ana@example.com"
    for bad in ("", "a@example.com, b@example.com", "   "):
        with pytest.raises(InvalidInput) as err:
            parse_address(bad, field="from_email")
        assert err.value.field == "from_email"


def test_format_address_plain_and_ascii_names() -> None:
    assert format_address("a@example.com", None) == "a@example.com"
    assert format_address("a@example.com", "  ") == "a@example.com"
    assert format_address("a@example.com", "Alice Smith") == "Alice Smith <a@example.com>"
    value = format_address("j@example.com", "Doe, John")
    assert value == '"Doe, John" <j@example.com>'
    assert _display_name(value) == "Doe, John"


def test_format_address_encodes_non_ascii_name() -> None:
    value = format_address("joao@example.com", "João Ação")
    assert value.isascii()
    assert "=?utf-8?" in value
    assert _display_name(value) == "João Ação"


def test_format_address_keeps_ascii_words_plain() -> None:
    value = format_address("a@example.com", "Associação Brasileira de Normas Técnicas")
    assert " Brasileira de Normas " in value
    assert _display_name(value) == "Associação Brasileira de Normas Técnicas"


def test_format_address_long_name_decodes_exactly_per_rfc2047() -> None:
    name = "João Ação Conceição Araújo Gonçalves Magalhães Simões Estêvão Brandão Loureiro"
    value = format_address("joao@example.com", name)
    words = re.findall(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=", value)
    assert len(words) > 1
    assert all(len(word) <= 75 for word in words)
    decoded = str(make_header(decode_header(value.rsplit(" <", 1)[0])))
    assert decoded == name


def test_format_address_does_not_let_names_pose_as_encoded_words() -> None:
    value = format_address("a@example.com", "=?utf-8?q?Bank?=")
    assert _display_name(value) == "=?utf-8?q?Bank?="


def test_format_address_idn_domain_and_checks() -> None:
    assert format_address("u@münchen.de", None) == "u@xn--mnchen-3ya.de"
    with pytest.raises(InvalidInput) as err:
        format_address("a@example.com", "Eve\r\nBcc: x@example.org", field="from_name")
    assert err.value.field == "from_name"
    with pytest.raises(InvalidInput):
        format_address("a@example.com", "x" * 300)


def test_domain_of() -> None:
    assert domain_of("Alice@Example.COM") == "example.com"
    assert domain_of("nobody") == ""


@pytest.mark.parametrize(
    ("addr", "pattern", "expected"),
    [
        ("alice@example.com", "*@example.com", True),
        ("Alice@Example.COM", "*@example.com", True),
        ("alice@example.com", "*@EXAMPLE.com", True),
        ("alice@example.com", "alice@example.com", True),
        ("bob@example.com", "alice@example.com", False),
        ("a.b@example.com", "a*@example.com", True),
        ("a@mail.example.com", "*@*.example.com", True),
        ("a@x.mail.example.com", "*@*.example.com", True),
        ("a@example.com", "*@*.example.com", False),
        ("a@example.org", "*@example.com", False),
        ("x@evil.com.example.com", "*@example.com", False),
        ("a@example.com.evil.com", "*@example.com", False),
        ("a@evilexample.com", "*@example.com", False),
        ("a@b@example.com", "*@example.com", False),
        ("a@b@example.com", "*@*", False),
        ("a@example.com@evil.com", "*@*.com", False),
        ("@example.com", "*@example.com", False),
        ("a@example.com", "example.com", True),
        ("a@sub.example.com", "example.com", False),
        ("user@xn--mnchen-3ya.de", "*@münchen.de", True),
        ("user@xn--mnchen-3ya.de", "*@*.de", True),
    ],
)
def test_matches_pattern(addr: str, pattern: str, expected: bool) -> None:
    assert matches_pattern(addr, pattern) is expected


_LONG = "d" * 60
ORACLE_CASES = [
    "ana@example.com",
    "Ana.Silva+news@Example.COM.br",
    "postmaster@example.com",
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",
    "a" * 200 + "@example.com",
    "x" * 200 + f"@{_LONG[:40]}.com",
    "x" * 190 + f"@{_LONG}.com",
    "x" * 180 + f"@{_LONG}.com",
    "ana@exämple.com.br",
    "a" * 230 + "@exämple.com.br",
    "a" * 236 + "@exämple.com.br",
    "ana@xn--exmple-cua.com.br",
    "ana@日本.jp",
    ".ana@example.com",
    "ana.@example.com",
    "an..a@example.com",
    "ana@example..com",
    "ana@example.com.",
    "ana@-example.com",
    "ana@example",
    "ana@localhost",
    "ana@example.invalid",
    "ana@my_host.example.com",
    "ana@[192.0.2.1]",
    "ana@b@example.com",
    "@example.com",
    "ana@",
    "josé@example.com",
    '"ana silva"@example.com',
    "ana@example.com\u0338",
    "ana@\u0338example.com",
    "a!#$%&'*+/=?^_`{|}~-@example.com",
    "ana@123.com",
    "ana@example.c",
    "ana@" + "x" * 64 + ".com",
    "ana@" + ".".join(["abcdefghij"] * 23) + ".com",
]


@pytest.mark.parametrize("address", ORACLE_CASES)
def test_domain_checked_once_gives_what_the_validator_gives(address: str) -> None:
    """An address's domain is checked once for every address at it: each address still
    passes or fails exactly as email_validator decides, with the same ASCII domain."""
    try:
        expected = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        with pytest.raises(EmailNotValidError) as raised:
            addresses._ascii_domain(address)
        assert str(raised.value) == str(exc)
        return
    assert addresses._ascii_domain(address) == expected.ascii_domain.lower()
    # The second address at a domain takes the shortcut and still agrees.
    twin = "b" + address
    try:
        twin_domain = validate_email(twin, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        with pytest.raises(EmailNotValidError):
            addresses._ascii_domain(twin)
        return
    assert addresses._ascii_domain(twin) == twin_domain.ascii_domain.lower()
