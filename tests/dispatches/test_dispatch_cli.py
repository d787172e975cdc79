"""`carteiro disparos …` and `carteiro whatsapp …` in-process against the test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dispatchkit import Lead
from typer.testing import CliRunner, Result

from carteiro.cli.main import app
from carteiro.config import Settings, get_settings
from carteiro.testing.asgi_server import serve_in_thread
from carteiro.testing.fake_whatsapp import FakeCloudApi


@pytest.fixture
def cli(
    settings: Settings, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Result]]:
    monkeypatch.chdir(tmp_path)
    env = {
        "CARTEIRO_DATABASE_URL": settings.database_url,
        "CARTEIRO_DATA_DIR": str(settings.data_dir),
        "CARTEIRO_SECRET_KEY": str(settings.secret_key),
        "CARTEIRO_API_KEY": None,
        "COLUMNS": "200",
    }
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        get_settings.cache_clear()
        try:
            return runner.invoke(app, list(args), env=env, input=input)
        finally:
            get_settings.cache_clear()

    yield invoke


def test_numbers_templates_and_dispatches(
    cli: Callable[..., Result], lead: Lead, tmp_path: Path
) -> None:
    added = cli(
        "whatsapp",
        "numbers",
        "add",
        "--name",
        "principal",
        "--phone-number-id",
        "123",
        input="token\nsecret\nverify\n",
    )
    assert added.exit_code == 0, added.output
    assert "/webhooks/whatsapp/cloud/" in added.output
    assert "token" not in added.output.split("\n")[-2]
    listed = cli("whatsapp", "numbers", "list")
    assert "principal" in listed.output and "active" in listed.output
    t = cli("whatsapp", "templates", "add", "aviso", "--param", "nome")
    assert t.exit_code == 0, t.output
    assert "aviso" in cli("whatsapp", "templates", "list").output
    created = cli(
        "disparos",
        "create",
        str(lead.lead_id),
        "--canal",
        "whatsapp",
        "--template",
        "aviso",
        "--var",
        "nome=Maria",
    )
    assert created.exit_code == 0, created.output
    assert "pendente" in created.output
    disparo_id = created.output.split()[1]
    assert "aviso" in cli("disparos", "list").output
    assert '"status": "pendente"' in cli("disparos", "show", disparo_id).output
    assert cli("disparos", "cancel", disparo_id).exit_code == 0
    again = cli("disparos", "cancel", disparo_id)
    assert again.exit_code != 0 and "cannot be cancelled" in again.output
    bad = cli("disparos", "create", str(lead.lead_id), "--canal", "whatsapp", "--template", "aviso")
    assert bad.exit_code != 0 and "nome" in bad.output
    assert "empty" in cli("disparos", "dead").output
    listing = tmp_path / "nao_me_ligue.csv"
    listing.write_text("telefone\n(11) 98765-4321\n11 3333-4444\nnot a phone\n")
    imported = cli("disparos", "dnc", "import", str(listing), "--source", "nao_me_ligue")
    assert (
        imported.exit_code == 0
        and "2 values" in imported.output
        and "1 lines refused" in imported.output
    )
    blocked = cli(
        "disparos",
        "create",
        str(lead.lead_id),
        "--canal",
        "whatsapp",
        "--template",
        "aviso",
        "--var",
        "nome=Maria",
    )
    assert blocked.exit_code != 0 and "do-not-contact" in blocked.output


def test_whatsapp_test_sends_one_template_to_the_fake_cloud_api(cli: Callable[..., Result]) -> None:
    fake = FakeCloudApi()
    fake.add_number("123", "token")
    fake.add_template("aviso", 1)
    with serve_in_thread(fake.app) as graph:
        added = cli(
            "whatsapp",
            "numbers",
            "add",
            "--name",
            "principal",
            "--phone-number-id",
            "123",
            "--base-url",
            graph,
            input="token\nsecret\nverify\n",
        )
        assert added.exit_code == 0, added.output
        assert cli("whatsapp", "templates", "add", "aviso", "--param", "nome").exit_code == 0
        missing = cli("whatsapp", "test", "+5511987654321", "--template", "aviso")
        assert missing.exit_code != 0 and "nome" in missing.output and fake.outbox == []
        bad_to = cli("whatsapp", "test", "ligue", "--template", "aviso", "--var", "nome=Ana")
        assert bad_to.exit_code != 0 and fake.outbox == []
        sent = cli(
            "whatsapp", "test", "+55 11 98765-4321", "--template", "aviso", "--var", "nome=Ana"
        )
        assert sent.exit_code == 0 and "accepted: wamid." in sent.output, sent.output
    (message,) = fake.outbox
    assert message.to == "5511987654321" and message.body["template"]["name"] == "aviso"
