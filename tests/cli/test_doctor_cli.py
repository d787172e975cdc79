"""`carteiro doctor`: passes on a fresh install in capture mode, fails on a broken account."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from carteiro.config import Settings
from carteiro.testing.smtp_server import SmtpSink

Invoke = Callable[..., Result]


def status_of(result: Result, check: str) -> str:
    """The result column of one row of the doctor's table."""
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if cells and cells[0] == check:
            return cells[1]
    raise AssertionError(f"no row {check!r} in:\n{result.stdout}")


def add_account(cli: Invoke, sink: SmtpSink, name: str, password: str) -> None:
    result = cli(
        "accounts", "add", name, "--email", f"{name}@example.com", "--host", sink.hostname,
        "--port", str(sink.port), "--ca-file", str(sink.cert_path),
        "--username", "alice", "--password", password,
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_fresh_database_in_capture_mode_passes(
    cli: Invoke, api_key: str, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    result = cli("doctor")
    assert result.exit_code == 0, result.output
    for check in ("configuration", "data directory", "database", "migrations", "queue"):
        assert status_of(result, check) == "ok", check
    assert status_of(result, "default tenant") == "ok"
    assert status_of(result, "secret key") == "ok"
    assert status_of(result, "accounts") == "note"
    assert "capture mode" in result.stdout
    assert "all checks passed" in result.stdout
    assert "test-secret-key" not in result.output


def test_before_the_first_serve_only_warns(cli: Invoke, settings: Settings) -> None:
    assert not settings.data_dir.exists()
    result = cli("doctor")
    assert result.exit_code == 0, result.output
    assert status_of(result, "default tenant") == "warn"
    assert status_of(result, "data directory") == "note"
    # Doctor only looks: it created neither the data directory nor a secret key.
    assert not settings.data_dir.exists()


def test_missing_sqlite_file_fails_without_creating_it(cli: Invoke, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent' / 'carteiro.db'}"
    result = cli("doctor", env={"CARTEIRO_DATABASE_URL": url})
    assert result.exit_code == 1
    assert status_of(result, "database") == "FAIL"
    assert "run carteiro migrate" in result.stdout
    assert result.stderr.strip() == "error: 1 check(s) failed: database"
    # Doctor only looks: it must not have created the database file.
    assert not (tmp_path / "absent" / "carteiro.db").exists()


def test_unreachable_database_fails_without_showing_the_password(cli: Invoke) -> None:
    url = "postgresql://carteiro:hunter2@127.0.0.1:1/carteiro"
    result = cli("doctor", env={"CARTEIRO_DATABASE_URL": url})
    assert result.exit_code == 1
    assert status_of(result, "database") == "FAIL"
    assert "cannot reach the database at postgresql://carteiro:***@127.0.0.1:1" in result.stdout
    assert "hunter2" not in result.output


def test_unmigrated_database_fails(cli: Invoke, tmp_path: Path) -> None:
    blank = tmp_path / "blank.db"
    blank.touch()
    result = cli("doctor", env={"CARTEIRO_DATABASE_URL": f"sqlite:///{blank}"})
    assert result.exit_code == 1
    assert status_of(result, "migrations") == "FAIL"
    assert "not migrated: run carteiro migrate" in result.stdout


def test_account_that_logs_in_passes(cli: Invoke, api_key: str, sink: SmtpSink) -> None:
    add_account(cli, sink, "good", "s3cret")
    result = cli("doctor")
    assert result.exit_code == 0, result.output
    assert status_of(result, "account good") == "ok"
    assert "logged in to" in result.stdout
    assert "capture mode" not in result.stdout


def test_account_that_cannot_log_in_fails(cli: Invoke, api_key: str, sink: SmtpSink) -> None:
    add_account(cli, sink, "good", "s3cret")
    add_account(cli, sink, "broken", "wrong")
    result = cli("doctor")
    assert result.exit_code == 1
    assert status_of(result, "account good") == "ok"
    assert status_of(result, "account broken") == "FAIL"
    assert "refused" in result.stdout and "535" not in result.stdout
    assert result.stderr.strip() == "error: 1 check(s) failed: account broken"


def test_invalid_api_key_in_the_environment_fails(cli: Invoke, api_key: str) -> None:
    result = cli("doctor", env={"CARTEIRO_API_KEY": "ct_not-a-key"})
    assert result.exit_code == 1
    assert status_of(result, "CARTEIRO_API_KEY") == "FAIL"
    good = cli("doctor", env={"CARTEIRO_API_KEY": api_key})
    assert good.exit_code == 0, good.output
    assert status_of(good, "CARTEIRO_API_KEY") == "ok"


def test_secret_key_file_is_reported_but_never_created(cli: Invoke, settings: Settings) -> None:
    without_env = {"CARTEIRO_SECRET_KEY": None}
    missing = cli("doctor", env=without_env)
    assert missing.exit_code == 0, missing.output
    assert status_of(missing, "secret key") == "note"
    key_file = settings.data_dir / "secret.key"
    assert not key_file.exists()

    settings.data_dir.mkdir(parents=True)
    key_file.write_text("k\n")
    key_file.chmod(0o644)
    loose = cli("doctor", env=without_env)
    assert status_of(loose, "secret key") == "warn"
    assert "chmod 600" in loose.stdout
    key_file.chmod(0o600)
    assert status_of(cli("doctor", env=without_env), "secret key") == "ok"


def test_an_unset_public_url_is_a_warning_row(cli: Invoke, api_key: str) -> None:
    result = cli("doctor", env={"CARTEIRO_PUBLIC_URL": None})
    assert result.exit_code == 0, result.output
    assert status_of(result, "public URL") == "warn"
    assert "CARTEIRO_PUBLIC_URL is not set" in result.stdout
    loopback = cli("doctor", env={"CARTEIRO_PUBLIC_URL": "http://127.0.0.1:8787"})
    assert status_of(loopback, "public URL") == "warn"
    public = cli("doctor", env={"CARTEIRO_PUBLIC_URL": "https://mail.example.com"})
    assert status_of(public, "public URL") == "ok"
    assert "https://mail.example.com/u/" in public.stdout
