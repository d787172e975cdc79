"""`carteiro accounts add|list|test|remove` against a real STARTTLS SMTP server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import Result

from carteiro.accounts import service as accounts
from carteiro.runtime import Runtime
from carteiro.testing.smtp_server import SmtpSink

Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def _default_tenant(api_key: str) -> None:
    """Every test here works on the default tenant, as after the first `carteiro serve`."""


def add_args(sink: SmtpSink, name: str = "relay", *extra: str) -> list[str]:
    return [
        "accounts",
        "add",
        name,
        "--email",
        "sender@example.com",
        "--host",
        sink.hostname,
        "--port",
        str(sink.port),
        "--security",
        "starttls",
        "--ca-file",
        str(sink.cert_path),
        *extra,
    ]


def test_add_list_test_remove(cli: Invoke, sink: SmtpSink, runtime: Runtime, api_key: str) -> None:
    added = cli(
        *add_args(
            sink, "relay", "--username", "alice", "--password", "s3cret", "--per-minute", "30"
        )
    )
    assert added.exit_code == 0, added.output
    assert "added account 'relay' (id " in added.stdout
    assert f"sender@example.com via 127.0.0.1:{sink.port} (starttls, CA " in added.stdout
    with runtime.db.session() as session:
        tenant_id = runtime.authenticate(api_key).tenant_id
        account = accounts.get_or_raise(session, tenant_id=tenant_id, ref="relay")
        assert account.smtp_password_enc and "s3cret" not in account.smtp_password_enc
        assert account.smtp_ca_file == str(sink.cert_path.resolve())
        assert account.limit_per_minute == 30

    listed = cli("accounts", "list")
    assert listed.exit_code == 0, listed.output
    for shown in ("relay", "sender@example.com", f"127.0.0.1:{sink.port}", "alice", "30/min"):
        assert shown in listed.stdout
    assert "s3cret" not in listed.output

    tested = cli("accounts", "test", "relay")
    assert tested.exit_code == 0, tested.output
    assert "ok relay: logged in to" in tested.stdout
    assert sink.logins == 1

    removed = cli("accounts", "remove", "relay", "--yes")
    assert removed.exit_code == 0, removed.output
    assert "removed account 'relay'" in removed.stdout
    assert "no accounts" in cli("accounts", "list").stdout


def test_wrong_password_fails_saying_which_step(cli: Invoke, sink: SmtpSink) -> None:
    assert cli(*add_args(sink, "bad", "--username", "alice", "--password", "nope")).exit_code == 0
    result = cli("accounts", "test", "bad")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: account 'bad' failed the login test:")
    assert "refused the login" in lines[0] and "535" not in lines[0]
    assert sink.logins == 0


def test_untrusted_certificate_fails(cli: Invoke, sink: SmtpSink) -> None:
    args = add_args(sink, "strict", "--username", "alice", "--password", "s3cret")
    ca = args.index("--ca-file")
    del args[ca : ca + 2]
    assert cli(*args).exit_code == 0
    result = cli("accounts", "test", "strict")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: account 'strict' failed the login test:")


def test_password_is_prompted_hidden_when_only_a_username_is_given(
    cli: Invoke, sink: SmtpSink
) -> None:
    added = cli(*add_args(sink, "prompted", "--username", "alice"), input="s3cret\n")
    assert added.exit_code == 0, added.output
    assert "SMTP password for alice" in added.stdout
    assert "s3cret" not in added.stdout
    assert cli("accounts", "test", "prompted").exit_code == 0


def test_remove_asks_first(cli: Invoke, sink: SmtpSink) -> None:
    assert (
        cli(*add_args(sink, "keepme", "--username", "alice", "--password", "s3cret")).exit_code == 0
    )
    declined = cli("accounts", "remove", "keepme", input="n\n")
    assert declined.exit_code == 1
    assert "keepme" in cli("accounts", "list").stdout
    confirmed = cli("accounts", "remove", "keepme", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "no accounts" in cli("accounts", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["accounts", "test", "ghost"], "error: account 'ghost' not found"),
        (["accounts", "remove", "ghost", "--yes"], "error: account 'ghost' not found"),
        (
            ["accounts", "add", "x", "--email", "not-an-address", "--host", "h", "--password", "p"],
            "error: invalid email:",
        ),
        (
            [
                "accounts",
                "add",
                "x",
                "--email",
                "a@example.com",
                "--host",
                "h",
                "--ca-file",
                "nope.pem",
            ],
            "error: smtp.ca_file: must be a readable PEM file of CA certificates",
        ),
    ],
)
def test_bad_input_is_one_line(cli: Invoke, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message), lines[0]


def test_duplicate_name_is_refused(cli: Invoke, sink: SmtpSink) -> None:
    assert cli(*add_args(sink, "dup", "--password", "x", "--username", "alice")).exit_code == 0
    again = cli(*add_args(sink, "dup", "--password", "x", "--username", "alice"))
    assert again.exit_code == 1
    assert again.stderr.strip() == "error: an account named 'dup' already exists"
