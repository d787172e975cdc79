"""`carteiro users create|list|reset-password|disable|enable`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from typer.testing import Result

from carteiro.runtime import Runtime
from carteiro.tenancy import people, sessions
from carteiro.tenancy.people import LoginPolicy, LoginRefused

Invoke = Callable[..., Result]
PASSWORD_LINE = re.compile(r"^Password: (\S+)$", re.MULTILINE)
POLICY = LoginPolicy()
LIFE = sessions.Lifetime()


def _can_log_in(runtime: Runtime, email: str, password: str) -> bool:
    with runtime.db.session() as session:
        try:
            people.authenticate(session, email=email, password=password, ip=None, policy=POLICY)
        except LoginRefused:
            return False
        return True


def test_create_list_reset_disable_enable(cli: Invoke, runtime: Runtime, api_key: str) -> None:
    created = cli(
        "users", "create", "--email", "Ana@Example.com", "--name", "Ana", "--role", "admin"
    )
    assert created.exit_code == 0, created.output
    assert "created admin ana@example.com" in created.stdout
    first = PASSWORD_LINE.findall(created.stdout)
    assert len(first) == 1 and _can_log_in(runtime, "ana@example.com", first[0])

    chosen = cli(
        "users",
        "create",
        "--email",
        "bo@example.com",
        "--name",
        "Bo",
        "--password-stdin",
        input="a-password-of-bos\n",
    )
    assert chosen.exit_code == 0, chosen.output
    assert "Password:" not in chosen.stdout
    assert _can_log_in(runtime, "bo@example.com", "a-password-of-bos")

    listed = cli("users", "list")
    assert listed.exit_code == 0
    assert "ana@example.com" in listed.stdout and "operator" in listed.stdout
    assert first[0] not in listed.stdout

    with runtime.db.session() as session:
        ana = people.get_by_email_or_raise(session, tenant_id=1, email="ana@example.com")
        ana.locked_until = people.now() + timedelta(minutes=10)
        _, token = sessions.create(session, user=ana, lifetime=LIFE)
    reset = cli("users", "reset-password", "ana@example.com")
    assert reset.exit_code == 0, reset.output
    assert "1 session(s) ended" in reset.stdout
    new = PASSWORD_LINE.findall(reset.stdout)[0]
    assert new != first[0]
    assert _can_log_in(runtime, "ana@example.com", new)  # the lockout is lifted too
    assert not _can_log_in(runtime, "ana@example.com", first[0])
    with runtime.db.session() as session:
        assert sessions.resolve(session, token=token, lifetime=LIFE) is None

    disabled = cli("users", "disable", "bo@example.com")
    assert disabled.exit_code == 0 and "disabled bo@example.com" in disabled.stdout
    assert not _can_log_in(runtime, "bo@example.com", "a-password-of-bos")
    assert "disabled" in cli("users", "list").stdout
    enabled = cli("users", "enable", "bo@example.com")
    assert enabled.exit_code == 0
    assert _can_log_in(runtime, "bo@example.com", "a-password-of-bos")


def test_errors_are_one_line(cli: Invoke, api_key: str) -> None:
    bad_role = cli("users", "create", "--email", "x@example.com", "--name", "X", "--role", "boss")
    assert (
        bad_role.exit_code == 1
        and "role must be one of owner, admin, operator, viewer" in bad_role.output
    )
    short = cli(
        "users",
        "create",
        "--email",
        "x@example.com",
        "--name",
        "X",
        "--password-stdin",
        input="short\n",
    )
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    unknown = cli("users", "reset-password", "nobody@example.com")
    assert unknown.exit_code == 1 and "no person with e-mail nobody@example.com" in unknown.output
    cli("users", "create", "--email", "o@example.com", "--name", "O", "--role", "owner")
    last_owner = cli("users", "disable", "o@example.com")
    assert last_owner.exit_code == 1 and "last owner" in last_owner.output
    assert cli("users", "list", "--help").exit_code == 0


def test_an_owner_made_by_the_cli_ends_the_setup_link(
    cli: Invoke, runtime: Runtime, api_key: str
) -> None:
    assert runtime.setup_token() is not None
    assert (
        cli(
            "users", "create", "--email", "o@example.com", "--name", "O", "--role", "owner"
        ).exit_code
        == 0
    )
    assert runtime.setup_token() is None
