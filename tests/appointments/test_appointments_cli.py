"""`carteiro agendamentos …` in-process against the test database: book, list, move, cancel,
close, tenant reminders, fire due reminders; bad input gives one line, exit 1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from carteiro.cli.main import app
from carteiro.config import Settings, get_settings


@pytest.fixture
def cli(
    settings: Settings, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Result]]:
    monkeypatch.chdir(tmp_path)  # a developer's .env must not leak in
    env = {
        "CARTEIRO_DATABASE_URL": settings.database_url,
        "CARTEIRO_DATA_DIR": str(settings.data_dir),
        "CARTEIRO_SECRET_KEY": str(settings.secret_key),
        "EMAIL_RATE_LIMIT_PER_HOUR": "0",
        "CARTEIRO_API_KEY": None,
        "GMAIL_EMAIL": None,
        "GMAIL_APP_PASSWORD": None,
        "COLUMNS": "250",
    }
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        get_settings.cache_clear()
        try:
            return runner.invoke(app, ["agendamentos", *args], env=env)
        finally:
            get_settings.cache_clear()

    yield invoke


def test_book_list_move_cancel_and_close(cli: Callable[..., Result], lead_id: int) -> None:
    booked = cli(
        "create", str(lead_id), "--tipo", "reuniao", "--canal", "video",
        "--at", "2030-12-10T10:00:00-03:00", "--lembretes", "120,30",
    )  # fmt: skip
    assert booked.exit_code == 0, booked.output
    assert "10/12/2030 às 10:00 (America/Sao_Paulo), pendente" in booked.output
    assert "reminder 120 min before by email: agendado" in booked.output
    assert "meet.jit.si/carteiro-" in booked.output
    ag_id = booked.output.split(":")[0].split()[-1]

    listed = cli("list", "--dia", "2030-12-10")
    assert listed.exit_code == 0 and "Padaria Pão Quente" in listed.output
    assert "1 of 1" in listed.output
    assert "0 of 0" in cli("list", "--dia", "2030-12-11").output

    moved = cli("reschedule", ag_id, "--at", "2030-12-11T15:00:00-03:00")
    assert moved.exit_code == 0 and "11/12/2030 às 15:00" in moved.output
    assert "reminder 120 min before by email: cancelado (reagendado)" in moved.output

    shown = cli("show", ag_id)
    assert "reagendado by cli" in shown.output and "convite_enviado" in shown.output

    missing_reason = cli("cancel", ag_id, "--motivo", " ")
    assert missing_reason.exit_code == 1 and "--motivo" in missing_reason.output
    cancelled = cli("cancel", ag_id, "--motivo", "cliente_solicitou")
    assert cancelled.exit_code == 0 and "cancelado" in cancelled.output
    again = cli("done", ag_id)
    assert again.exit_code == 1 and "is cancelado" in again.output

    other = cli(
        "create", str(lead_id), "--tipo", "callback", "--canal", "telefone",
        "--at", "2030-12-12T09:00:00-03:00",
    )  # fmt: skip
    other_id = other.output.split(":")[0].split()[-1]
    assert "nao_compareceu" in cli("done", other_id, "--no-show").output


def test_bad_input_is_one_line(cli: Callable[..., Result], lead_id: int) -> None:
    naive = cli(
        "create", str(lead_id), "--tipo", "reuniao", "--canal", "video", "--at", "2030-12-10T10:00"
    )
    assert naive.exit_code == 1 and "UTC offset" in naive.output
    unknown = cli(
        "create", "99999", "--tipo", "reuniao", "--canal", "video", "--at", "2030-12-10T10:00:00Z"
    )
    assert unknown.exit_code == 1 and "lead 99999 not found" in unknown.output
    offsets = cli("reminders", "60,abc")
    assert offsets.exit_code == 1 and "'abc'" in offsets.output
    zone = cli("list", "--dia", "2030-12-10", "--timezone", "Lua/Base")
    assert zone.exit_code == 1 and "IANA" in zone.output


def test_tenant_reminders_and_firing(cli: Callable[..., Result], lead_id: int) -> None:
    assert "reminders: 90, 10 minutes before" in cli("reminders", "10,90").output
    booked = cli(
        "create", str(lead_id), "--tipo", "reuniao", "--canal", "video",
        "--at", "2030-12-10T10:00:00-03:00",
    )  # fmt: skip
    assert "reminder 90 min before" in booked.output and "reminder 10 min before" in booked.output
    assert "0 reminder(s) handled" in cli("fire").output
