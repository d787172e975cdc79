"""`carteiro migrate`, `carteiro keys …`, `--help` everywhere and the one-line error contract."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from carteiro.db import migrate
from carteiro.db.engine import Database
from carteiro.errors import Unauthorized
from carteiro.runtime import Runtime

Invoke = Callable[..., Result]
KEY_LINE = re.compile(r"^API key: (ct_\S+)$", re.MULTILINE)

COMMANDS = [
    [],
    ["serve"],
    ["worker"],
    ["migrate"],
    ["keys"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
    ["accounts"],
    ["accounts", "add"],
    ["accounts", "list"],
    ["accounts", "test"],
    ["accounts", "remove"],
    ["send"],
    ["mcp"],
    ["doctor"],
    ["users"],
    ["users", "create"],
    ["users", "list"],
    ["users", "reset-password"],
    ["users", "disable"],
    ["users", "enable"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "carteiro")
def test_every_command_has_help(cli: Invoke, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_migrate_an_empty_database_then_again(cli: Invoke, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty' / 'carteiro.db'}"
    first = cli("migrate", env={"CARTEIRO_DATABASE_URL": url})
    assert first.exit_code == 0, first.output
    head = migrate.head_revision()
    assert f"migrated to revision {head}" in first.stdout
    db = Database(url)
    try:
        assert migrate.current_revision(db.engine) == head
    finally:
        db.dispose()
    again = cli("migrate", env={"CARTEIRO_DATABASE_URL": url})
    assert again.exit_code == 0, again.output
    assert f"already at revision {head}" in again.stdout


def test_migrate_on_the_test_database_is_a_no_op(cli: Invoke) -> None:
    result = cli("migrate")
    assert result.exit_code == 0, result.output
    assert "already at revision" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list"],
        ["worker"],
        ["accounts", "list"],
        ["send", "--to", "a@example.com", "--subject", "s", "--body", "b"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_commands_refuse_an_unmigrated_database(
    cli: Invoke, tmp_path: Path, command: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'blank.db'}"
    result = cli(*command, env={"CARTEIRO_DATABASE_URL": url})
    assert result.exit_code == 1, result.output
    assert result.stderr == "error: the database is not migrated: run carteiro migrate first\n"


def test_unreachable_database_is_one_line_without_the_password(cli: Invoke) -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://carteiro:hunter2@127.0.0.1:1/carteiro"
    result = cli("keys", "list", env={"CARTEIRO_DATABASE_URL": url})
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    expected = "error: cannot reach the database at postgresql://carteiro:***@127.0.0.1:1/carteiro"
    assert lines[0].startswith(expected), lines[0]
    assert "hunter2" not in result.output


def test_invalid_configuration_is_one_line(cli: Invoke) -> None:
    result = cli("keys", "list", env={"CARTEIRO_DATABASE_URL": "mysql://db/x"})
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid configuration"), result.stderr


def test_keys_create_prints_a_working_key_and_creates_the_tenant(
    cli: Invoke, runtime: Runtime
) -> None:
    result = cli(
        "keys",
        "create",
        "--name",
        "billing agent",
        "--scope",
        "emails:send",
        "--scope",
        "emails:read",
        "--allow",
        "*@example.com",
        "--rate-limit",
        "5",
        "--review",
    )
    assert result.exit_code == 0, result.output
    assert "created tenant 'default'" in result.stdout
    found = KEY_LINE.findall(result.stdout)
    assert len(found) == 1
    principal = runtime.authenticate(found[0])
    assert principal.key_name == "billing agent"
    assert principal.scopes == ("emails:send", "emails:read")
    assert principal.allowed_recipients == ("*@example.com",)
    assert principal.rate_limit_per_hour == 5
    assert principal.review_mode is True
    for shown in ("billing agent", "emails:send, emails:read", "*@example.com", "5/hour", "on"):
        assert shown in result.stdout


def test_keys_create_in_a_named_tenant(cli: Invoke, runtime: Runtime, api_key: str) -> None:
    result = cli("keys", "create", "--name", "acme bot", "--tenant", "acme")
    assert result.exit_code == 0, result.output
    assert "created tenant 'acme'" in result.stdout
    acme = runtime.authenticate(KEY_LINE.findall(result.stdout)[0])
    assert acme.tenant_id != runtime.authenticate(api_key).tenant_id
    assert acme.scopes == ("emails:send", "emails:read")

    second = cli("keys", "create", "--name", "acme bot 2", "--tenant", "acme")
    assert second.exit_code == 0, second.output
    assert "created tenant" not in second.stdout
    assert runtime.authenticate(KEY_LINE.findall(second.stdout)[0]).tenant_id == acme.tenant_id


def test_keys_create_rejects_an_unknown_scope(cli: Invoke) -> None:
    result = cli("keys", "create", "--name", "x", "--scope", "emails:everything")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown scope(s) emails:everything")
    assert "API key" not in result.stdout


def test_keys_list_and_revoke(cli: Invoke, runtime: Runtime, api_key: str) -> None:
    created = cli("keys", "create", "--name", "temporary")
    plain = KEY_LINE.findall(created.stdout)[0]
    key_id = runtime.authenticate(plain).key_id

    listed = cli("keys", "list")
    assert listed.exit_code == 0, listed.output
    assert "first key" in listed.stdout and "temporary" in listed.stdout
    assert plain not in listed.stdout

    revoked = cli("keys", "revoke", str(key_id))
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked key {key_id} (temporary)" in revoked.stdout
    with pytest.raises(Unauthorized):
        runtime.authenticate(plain)
    runtime.authenticate(api_key)

    again = cli("keys", "revoke", str(key_id))
    assert again.exit_code == 0 and "already revoked" in again.stdout
    assert "revoked" in cli("keys", "list").stdout

    missing = cli("keys", "revoke", "9999")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: API key 9999 not found"


def test_keys_revoke_cannot_reach_another_tenant(
    cli: Invoke, runtime: Runtime, api_key: str
) -> None:
    other = cli("keys", "create", "--name", "other", "--tenant", "other")
    other_id = runtime.authenticate(KEY_LINE.findall(other.stdout)[0]).key_id
    result = cli("keys", "revoke", str(other_id))
    assert result.exit_code == 1
    assert "not found" in result.stderr
    assert cli("keys", "revoke", str(other_id), "--tenant", "other").exit_code == 0


def test_keys_list_without_a_default_tenant_says_how_to_make_one(cli: Invoke) -> None:
    result = cli("keys", "list")
    assert result.exit_code == 1
    assert "default tenant does not exist yet" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
