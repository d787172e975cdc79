"""The no-model reading of a send request: the canonical phrasing and close variants only."""

from __future__ import annotations

import pytest

from carteiro.agents.parser import SendRequest, parse_send_request

CANONICAL = (
    "Envie um email para equipe@empresa.com com assunto 'Reunião Semanal' e mensagem "
    "'A reunião é amanhã às 10h.'"
)


def test_the_seed_sentence() -> None:
    assert parse_send_request(CANONICAL) == SendRequest(
        to=["equipe@empresa.com"],
        subject="Reunião Semanal",
        body="A reunião é amanhã às 10h.",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'Mande um e-mail para ana@empresa.com com assunto "Oi" e corpo "Tudo bem?"',
            SendRequest(to=["ana@empresa.com"], subject="Oi", body="Tudo bem?"),
        ),
        (
            "envie email para ana@empresa.com, bia@empresa.com e caio@empresa.com com o assunto "
            "“Pauta” e a mensagem “Segue a pauta.”.",
            SendRequest(
                to=["ana@empresa.com", "bia@empresa.com", "caio@empresa.com"],
                subject="Pauta",
                body="Segue a pauta.",
            ),
        ),
        (
            "Por favor, envie um email para ana@empresa.com com cópia para chefe@empresa.com "
            "com assunto 'Relatório' e mensagem 'Em anexo.' com prioridade alta",
            SendRequest(
                to=["ana@empresa.com"],
                subject="Relatório",
                body="Em anexo.",
                cc=["chefe@empresa.com"],
                priority="high",
            ),
        ),
        (
            "Envie um email para ana@empresa.com com mensagem 'Linha 1\nLinha 2' e assunto 'X'!",
            SendRequest(to=["ana@empresa.com"], subject="X", body="Linha 1\nLinha 2"),
        ),
        (
            "Envie um email para ANA@Empresa.com com assunto: 'X' e texto: 'y'",
            SendRequest(to=["ANA@empresa.com"], subject="X", body="y"),
        ),
    ],
)
def test_variants_it_accepts(text: str, expected: SendRequest) -> None:
    assert parse_send_request(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # A name, not an address: whom would it mean?
        "Envie um email para o João com assunto 'X' e mensagem 'y'",
        # Unquoted: where does the subject end?
        "Envie um email para ana@empresa.com com assunto Reunião e mensagem Oi",
        "Envie um email para ana@empresa.com com assunto 'X'",
        "Envie um email para ana@empresa.com com mensagem 'y'",
        "Envie um email para ana@empresa.com com assunto '' e mensagem 'y'",
        "Envie um email para ana@empresa.com com assunto 'X' e assunto 'Z' e mensagem 'y'",
        # Something more is asked: the parser would drop it.
        "Envie um email para ana@empresa.com com assunto 'X' e mensagem 'y' e ligue para ela",
        "Envie um email para ana@empresa.com com assunto 'X' e mensagem 'y' amanhã às 9h",
        "Não envie um email para ana@empresa.com com assunto 'X' e mensagem 'y'",
        "Envie um email para ana@@empresa com assunto 'X' e mensagem 'y'",
        "Envie um email para ana@empresa.com com assunto 'X\nY' e mensagem 'y'",
        "Envie um email com assunto 'X' e mensagem 'y'",
        "Envie um SMS para ana@empresa.com com assunto 'X' e mensagem 'y'",
        "Envie um email para ana@empresa.com com prioridade máxima com assunto 'X' e mensagem 'y'",
        "",
    ],
)
def test_phrasings_it_refuses(text: str) -> None:
    assert parse_send_request(text) is None
