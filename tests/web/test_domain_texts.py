"""Domain error messages reach the pages in the person's language."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from leadsui import post

from carteiro.web import domain_texts


@pytest.mark.parametrize(
    ("message", "portuguese"),
    [
        ("lead 42 not found", "O lead 42 não foi encontrado."),
        ("thread 7 not found", "A conversa 7 não foi encontrada."),
        (
            "account 'vendas' is being synced right now; try again shortly",
            "A conta vendas está sincronizando agora; tente de novo em instantes.",
        ),
        (
            "to_email: 'ana@' is not a valid e-mail address",
            "to_email: 'ana@' não é um endereço de e-mail válido.",
        ),
        ("status must be one of novo, contatado", "status deve ser um destes: novo, contatado."),
        (
            "email 3 is sent and can no longer be cancelled",
            "A mensagem 3 está como sent e não pode mais ser cancelada.",
        ),
    ],
)
def test_known_messages_are_translated(message: str, portuguese: str) -> None:
    assert domain_texts.translate("pt_BR", message) == portuguese
    assert domain_texts.translate("en", message) != portuguese


def test_an_unknown_message_is_shown_as_written() -> None:
    assert domain_texts.translate("pt_BR", "something odd happened") == "something odd happened"
    # Only whole messages match: a longer text is not half translated.
    assert domain_texts.translate("pt_BR", "lead 42 not found here") == "lead 42 not found here"


def test_pages_show_domain_errors_in_portuguese(as_user: Callable[..., TestClient]) -> None:
    admin = as_user("admin")
    missing = admin.get("/ui/leads/999999")
    assert missing.status_code == 404 and "O lead 999999 não foi encontrado." in missing.text
    bad = admin.get("/ui/leads", params={"status": "perdido"})
    assert bad.status_code == 422 and "status deve ser um destes:" in bad.text
    pane = post(admin, "/ui/inbox/pane/999999/actions", {"action": "read"})
    assert 'role="alert"' in pane.text and "A conversa 999999 não foi encontrada." in pane.text
