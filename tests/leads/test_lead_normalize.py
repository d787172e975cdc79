"""Cell normalisation and header mapping, without a database."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from carteiro.errors import InvalidInput
from carteiro.leads import normalize as norm
from carteiro.leads.headers import classify, find_header, validate_mapping


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("A@X.com; b@y.com.br", ["a@x.com", "b@y.com.br"]),
        ("a@x.com, b@x.com / c@x.com", ["a@x.com", "b@x.com", "c@x.com"]),
        ("a@x.com\nB@X.COM", ["a@x.com", "b@x.com"]),
        ("mailto:Fulano@Empresa.com.br", ["fulano@empresa.com.br"]),
        ("<joao@x.com>", ["joao@x.com"]),
    ],
)
def test_several_emails_in_one_cell_are_split_and_lowercased(cell: str, expected: list) -> None:
    found = [norm.normalise_email(t) for t in norm.split_emails(cell)]
    assert [f for f in found if f] == expected


@pytest.mark.parametrize(
    "token",
    ["fulano@", "@x.com", "a..b@x.com", "a@x", "a@x.test", "a@-x.com", "a b@x.com", "a@1.2"],
)
def test_invalid_email_syntax_is_rejected(token: str) -> None:
    assert norm.normalise_email(token) is None


CORPUS = [
    "simple@example.com",
    "UPPER@Example.COM",
    "first.last+tag@sub.domain.com.br",
    "x@a.b",
    "x@a.co",
    "x@a.museum",
    "a-b_c@x-y.z-w.com",
    "a@ab--cd.com",
    "a@xn--abc.com",
    "a@x.local",
    "a@x.onion",
    "a@x.arpa",
    "a@localhost",
    "a.@x.com",
    ".a@x.com",
    "a@x..com",
    "a@x.123",
    "a@" + "x" * 64 + ".com",
    "l" * 65 + "@x.com",
    "o'neil@x.com",
    "josé@exemplo.com.br",
    "a@exemplo.côm",
    "a@x.c0m",
    "a+b@x.internal",
    "a@" + ".".join(["abcdefghij"] * 25) + ".com",
]


@pytest.mark.parametrize("address", CORPUS)
def test_fast_path_agrees_with_email_validator(address: str) -> None:
    try:
        expected = validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    assert norm.normalise_email(address) == expected
    if norm._plain_email(address.lower()):
        assert expected == address.lower()


def test_fast_path_takes_ordinary_addresses() -> None:
    assert norm._plain_email("fulano.de.tal+news@empresa.com.br")
    assert not norm._plain_email("josé@exemplo.com.br")


@pytest.mark.parametrize(
    ("raw", "e164", "kind"),
    [
        ("5.511987654321e12", "+5511987654321", "mobile"),
        (str(5.511987654321e12), "+5511987654321", "mobile"),
        ("11987654321", "+5511987654321", "mobile"),
        ("(11) 98765-4321", "+5511987654321", "mobile"),
        ("(011) 98765-4321", "+5511987654321", "mobile"),
        ("0xx11 98765-4321", "+5511987654321", "mobile"),
        ("+55 11 98765-4321", "+5511987654321", "mobile"),
        ("0055 11 98765 4321", "+5511987654321", "mobile"),
        ("0 15 11 98765-4321", "+5511987654321", "mobile"),
        ("11 8765-4321", "+5511987654321", "mobile"),
        ("(21) 2555-1234", "+552125551234", "landline"),
        ("1133334444", "+551133334444", "landline"),
        ("551133334444", "+551133334444", "landline"),
        ("+351 912 345 678", "+351912345678", "mobile"),
        ("(11) 98765-4321 ramal 12", "+5511987654321", "mobile"),
    ],
)
def test_phones_become_e164_with_a_type(raw: str, e164: str, kind: str) -> None:
    assert norm.normalise_phone(raw) == (e164, kind)


@pytest.mark.parametrize("raw", ["98765-4321", "11 1234-5678", "123", "abc", "1" * 20])
def test_phones_that_are_not_numbers_are_rejected(raw: str) -> None:
    assert norm.normalise_phone(raw) is None


def test_cell_text_drops_float_noise() -> None:
    assert norm.cell_text(11987654321.0) == "11987654321"
    assert norm.cell_text(5.511987654321e12) == "5511987654321"
    assert norm.cell_text(1.5) == "1.5"
    assert norm.cell_text(None) == ""
    assert norm.cell_text("  x ") == "x"


@pytest.mark.parametrize(
    ("raw", "hint", "expected"),
    [
        ("11.222.333/0001-81", None, ("11222333000181", "cnpj")),
        ("11222333000181", "cnpj", ("11222333000181", "cnpj")),
        # A CNPJ stored as a number lost its leading zeros.
        (str(int("00623904000173")), None, ("00623904000173", "cnpj")),
        ("623904000173", "cnpj", ("00623904000173", "cnpj")),
        ("529.982.247-25", None, ("52998224725", "cpf")),
        (str(int("01234567890")), "cpf", ("01234567890", "cpf")),
        ("11.222.333/0001-82", None, None),
        ("111.111.111-11", None, None),
        ("00000000000000", None, None),
        ("123", None, None),
    ],
)
def test_documents_are_checked_by_their_digits(
    raw: str, hint: str | None, expected: object
) -> None:
    assert norm.normalise_document(raw, hint=hint) == expected


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Nome", "nome"),
        ("RAZÃO SOCIAL", "nome"),
        ("razao social", "nome"),
        ("Empresa", "nome"),
        ("Company name", "nome"),
        ("Contato", "contato_nome"),
        ("Responsável", "contato_nome"),
        ("Nome do Contato", "contato_nome"),
        ("Contact", "contato_nome"),
        ("CNPJ", "documento"),
        ("CPF/CNPJ", "documento"),
        ("Documento", "documento"),
        ("E-mail", "email"),
        ("E-MAIL(S)", "email"),
        ("Emails", "email"),
        ("email 2", "email"),
        ("E-mail do contato", "email"),
        ("Telefone", "telefone"),
        ("Telefone(s)", "telefone"),
        ("Celular", "telefone"),
        ("WhatsApp", "telefone"),
        ("Fone 1", "telefone"),
        ("Phone", "telefone"),
        ("Telefone do contato", "telefone"),
        ("ID", "lead_id_externo"),
        ("Código", "lead_id_externo"),
        ("External ID", "lead_id_externo"),
    ],
)
def test_headers_are_recognised_in_portuguese_and_english(header: str, field: str) -> None:
    found = classify(header)
    assert found is not None and found[0] == field


@pytest.mark.parametrize(
    "header", ["", "Cidade", "UF", "Leads Organizados", "Lista de telefones e e-mails dos leads"]
)
def test_other_headers_are_not_mapped(header: str) -> None:
    assert classify(header) is None


def test_header_row_is_found_below_title_rows() -> None:
    rows = [
        (0, ["Telefones dos clientes", "", ""]),
        (1, ["", "", ""]),
        (2, ["Nome", "E-mail", "Telefone"]),
    ]
    cmap = find_header(rows, {})
    assert cmap.header_index == 2
    assert cmap.single == {"nome": 0} and cmap.emails == [1] and cmap.phones == [(2, "telefone")]


def test_no_header_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="no recognisable header"):
        find_header([(0, ["a", "b"]), (1, ["1", "2"])], {})


def test_explicit_mapping_overrides_detection() -> None:
    rows = [(0, ["Cliente", "Contato", "Obs", "Celular"])]
    cmap = find_header(rows, validate_mapping({"nome": "obs", "telefone": ""}))
    assert cmap.single["nome"] == 2
    assert cmap.phones == []


def test_mapping_is_validated() -> None:
    with pytest.raises(InvalidInput, match="unknown field"):
        validate_mapping({"apelido": "X"})
    with pytest.raises(InvalidInput, match="only one column"):
        validate_mapping({"nome": ["A", "B"]})
    with pytest.raises(InvalidInput, match="no row"):
        find_header([(0, ["Nome", "Email"])], validate_mapping({"nome": "Razão"}))
