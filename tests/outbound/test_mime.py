"""The direct MIME writer produces exactly the bytes the email package does, boundaries included."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from email import quoprimime
from email.generator import BytesGenerator
from email.policy import SMTP
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carteiro.errors import InvalidInput
from carteiro.mail import mime
from carteiro.mail.attachments import Attachment
from carteiro.mail.compose import compose_message

WHEN = datetime(2024, 3, 5, 14, 30, 0, tzinfo=UTC)
LONG_URL = "<https://mail.example.com/u/" + "eyJ0b2tlbiI6IjEyMyJ9" * 8 + ">"
UNSUBSCRIBE = {"List-Unsubscribe": LONG_URL, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
PDF = bytes(range(256)) * 5
PARAGRAPH = (
    "Olá! Este é o relatório semanal da sua conta, com os pedidos, as entregas e as faturas em "
    "aberto. Confira os detalhes abaixo e responda se algo estiver errado.\n"
)


def _args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "from_addr": "joao@example.com",
        "from_name": "João Ação",
        "to": ["ana@example.com"],
        "cc": [],
        "subject": "Ação",
        "text": "Olá, tudo bem?\nAté já.",
        "message_id": "<abc.123@example.com>",
        "date": WHEN,
    }
    args.update(overrides)
    return args


def both(**overrides: Any) -> tuple[bytes, bytes]:
    """The message written directly and built by the email package, from the same random
    state, so that both draw the same multipart boundaries."""
    args = _args(**overrides)
    state = random.getstate()
    direct = compose_message(**args)
    after = random.getstate()
    random.setstate(state)
    reference = compose_message(**args, stdlib=True)
    assert random.getstate() == after, "the two paths drew a different number of boundaries"
    return direct, reference


CASES: dict[str, dict[str, Any]] = {
    "text only": {},
    "empty text": {"text": ""},
    "text and html": {"text": PARAGRAPH * 3, "html": "<p>" + PARAGRAPH * 3 + "</p>"},
    "empty html": {"html": ""},
    "portuguese subject and names": {
        "subject": "Reunião às 15h — ação de março",
        "from_name": "João da Conceição",
    },
    "long ascii subject": {"subject": "Weekly report of your account " * 6},
    "long non-ascii subject": {"subject": "Relatório trimestral de operações — " * 6},
    "long subject without spaces": {"subject": "ação" * 60},
    "emoji": {"subject": "Promoção 🎉🎉 só hoje", "text": "Oi 👋\n", "html": "<p>🎉</p>"},
    "long display name": {"from_name": "Equipe de Suporte Técnico da Organização Exemplar Ltda"},
    "quoted display name": {"from_name": 'Ana "Aninha" Silva, Vendas'},
    "no display name": {"from_name": None},
    "idn sender": {"from_addr": "joao@münchen.de"},
    "many recipients": {
        "to": [f"pessoa{i}@example.com" for i in range(12)],
        "cc": ["carla@example.net", "dora@example.org"],
    },
    "cc without to": {"to": [], "cc": ["c@example.com"]},
    "reply-to": {"reply_to": ["respostas@example.com", "suporte@example.com"]},
    "custom headers": {"headers": {"X-Campaign": "março", "X-Ids": "1 2 3", "Keywords": "a"}},
    "list-unsubscribe": {"headers": UNSUBSCRIBE, "html": "<p>oi</p>"},
    "long body lines": {"text": "x" * 5000, "html": "<p>" + "ação " * 2000 + "</p>"},
    "long lines of spaces and tabs": {"text": ("a \t" * 40 + " \n") * 3},
    "trailing whitespace": {"text": "fim com espaço \nfim com tab\t\nação \n"},
    "equals and dots": {"text": "a=b\n.\n..\nFrom here\n=?utf-8?q?x?=\n" + "=" * 100},
    "8-bit body": {"text": "ação " * 50 + "\n" + "çãõé" * 40},
    "mostly non-ascii body": {"text": "日本語のテキストです。" * 50, "html": "<p>日本語</p>" * 20},
    "nul byte": {"text": "a\x00b\n"},
    "control characters": {"text": "a\x0bb\x0cc\x1cd\x85e\u2028f\n"},
    "crlf line endings": {"text": "um\r\ndois\r\ntrês\r\n", "html": "<p>um</p>\r\n<p>dois</p>"},
    "cr line endings": {"text": "um\rdois\rtrês", "html": "<p>a</p>\r<p>b</p>\r"},
    "mixed line endings": {"text": "a\r\nb\nc\rd\n\n\r\r\ne"},
    "boundary-looking lines": {"text": "--===============1234567890123456789==\n--\n-- \n"},
    "attachment": {"attachments": [Attachment("relatorio.pdf", "application/pdf", PDF)]},
    "html and attachments": {
        "html": "<p>Olá</p>",
        "attachments": [
            Attachment("relatório_março.pdf", "application/pdf", PDF),
            Attachment("notas.txt", "text/plain", "ação\n".encode()),
        ],
    },
    "odd attachment names": {
        "attachments": [
            Attachment('aspas "duplas" (1); x=y.bin', "application/octet-stream", b"\x00\x01"),
            Attachment("nome muito longo de um arquivo " * 6 + ".pdf", "application/pdf", b"%"),
            Attachment("relatório com acentos e um nome bem comprido também.xlsx", "a/b", b""),
            Attachment("emoji 🎉.png", "image/png", PDF[:100]),
        ]
    },
    "everything": {
        "from_name": "João Ação",
        "to": ["ana@example.com", "bob@example.org"],
        "cc": ["carla@example.net"],
        "reply_to": ["r@example.com"],
        "subject": "Olá João, confira as ofertas de março com condições especiais 🎉",
        "text": PARAGRAPH * 5,
        "html": "<html><body>" + "<p>" + PARAGRAPH + "</p>" * 5 + "</body></html>",
        "headers": {**UNSUBSCRIBE, "X-Nota": "olá mundo"},
        "attachments": [Attachment("tabela.pdf", "application/pdf", PDF)],
    },
}


@pytest.mark.parametrize("overrides", list(CASES.values()), ids=list(CASES))
def test_same_bytes_as_the_email_package(overrides: dict[str, Any]) -> None:
    direct, reference = both(**overrides)
    assert direct == reference


def test_a_boundary_drawn_twice_is_written_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "randrange", lambda *_: 42)
    line = "--" + "=" * 15 + f"{42:019d}=="
    direct, reference = both(
        text=f"antes\n{line}\ndepois",
        html="<p>oi</p>",
        attachments=[Attachment("a.bin", "application/octet-stream", b"x")],
    )
    assert direct == reference


@pytest.mark.parametrize("text", [b"", b"--B==\r\n", b"a\n--B==\nb", b"--B==--\n--B==.0"])
def test_boundary_collision_check_is_the_generators(
    monkeypatch: pytest.MonkeyPatch, text: bytes
) -> None:
    monkeypatch.setattr(random, "randrange", lambda *_: 7)
    drawn = BytesGenerator._make_boundary()
    text = text.replace(b"B==", drawn.encode()[:-2])
    assert mime._boundary(text) == BytesGenerator._make_boundary(text)


@pytest.mark.parametrize("suffix", ["", ".0", ".12"])
@pytest.mark.parametrize("subtype", ["mixed", "alternative"])
def test_multipart_header_is_folded_as_the_email_package_folds_it(
    subtype: str, suffix: str
) -> None:
    boundary = BytesGenerator._make_boundary() + suffix
    value = f'multipart/{subtype}; boundary="{boundary}"'
    expected = SMTP.header_factory("Content-Type", value).fold(policy=SMTP).encode()
    assert mime._multipart_header(subtype, boundary) == expected


@pytest.mark.parametrize("name", ["x-tag", "orig-date"])
def test_a_header_name_given_twice_in_another_case_is_refused(name: str) -> None:
    value = "Mon, 1 Jan 2024 00:00:00 +0000"
    with pytest.raises(InvalidInput) as info:
        both(headers={name.title(): value, name: value})
    assert info.value.field == "headers" and "twice" in str(info.value)


# -- property-based: many random messages ---------------------------------------------------

_WORD_CHARS = "abcxyzABC019 .,;:!?'\"()<>@=-_/\\ãçéõÁ€😀日\t"
_BODY_CHARS = _WORD_CHARS + "\n\r\x00\x0b\x85\u2028"
words = st.text(alphabet=_WORD_CHARS, max_size=120)
bodies = st.text(alphabet=_BODY_CHARS, max_size=400) | st.builds(
    lambda s, n: s * n, st.text(alphabet=_BODY_CHARS, min_size=1, max_size=30), st.integers(1, 40)
)
names = st.none() | st.text(alphabet="abcJoãoçÁ😀 .,\"'-", max_size=80)
header_values = st.text(alphabet="abc XYZ019<>:/.=?-ção😀", max_size=200)
attachments = st.lists(
    st.builds(
        Attachment,
        filename=st.text(alphabet="abc .()-_ãç😀\"';=", min_size=1, max_size=90).filter(
            lambda n: n.strip() and n not in (".", "..") and "=?" not in n
        ),
        content_type=st.sampled_from(["application/pdf", "text/plain", "image/png"]),
        data=st.binary(max_size=300),
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=words,
    from_name=names,
    text=bodies,
    html=st.none() | bodies,
    headers=st.dictionaries(st.sampled_from(["X-A", "X-Campaign", "Keywords"]), header_values),
    attachments=attachments,
    cc=st.lists(st.sampled_from(["c@example.com", "d@example.org"]), max_size=2, unique=True),
    seed=st.integers(0, sys.maxsize),
)
def test_random_messages_are_written_the_same(seed: int, **overrides: Any) -> None:
    random.seed(seed)
    direct, reference = both(**overrides)
    assert direct == reference


@settings(max_examples=500, deadline=None)
@given(
    body=st.text(alphabet="ab =\t.\n\x00\x0b\x0c\x7f\x85\xc3\xa9\xff~<>", max_size=400)
    | st.builds(
        lambda s, n: s * n, st.text(alphabet="a =\t\n\xe9", min_size=1), st.integers(1, 90)
    ),
    maxlinelen=st.sampled_from([4, 5, 76, 78]),
)
def test_quoted_printable_is_the_email_packages(body: str, maxlinelen: int) -> None:
    assert mime._quoted_printable(body, maxlinelen) == quoprimime.body_encode(body, maxlinelen)
