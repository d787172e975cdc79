"""`carteiro send`: attachments, scheduling, review mode and clear one-line errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer
from typer.testing import Result

from carteiro.outbound.models import Email, EmailAttachment
from carteiro.runtime import Runtime

Invoke = Callable[..., Result]
QUEUED = re.compile(r"^(queued|held) (\d+) (<\S+@\S+>)$")


@pytest.fixture(autouse=True)
def _default_tenant(api_key: str) -> None:
    """Messages are created as the default tenant, as after the first `carteiro serve`."""


def parse(result: Result) -> tuple[str, int, str]:
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    match = QUEUED.match(lines[0])
    assert match, lines[0]
    return match[1], int(match[2]), match[3]


def row(runtime: Runtime, email_id: int) -> Email:
    with runtime.db.session() as session:
        # Body, html and raw are deferred columns; load them before leaving the session.
        email = session.get(Email, email_id, options=[undefer("*")])
        assert email is not None
        session.expunge(email)
        return email


def test_send_with_attachment_html_and_cc(cli: Invoke, runtime: Runtime, tmp_path: Path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 fake")
    notes = tmp_path / "notes.txt"
    notes.write_text("plain notes")
    html = tmp_path / "body.html"
    html.write_text("<p>Olá <b>mundo</b></p>", encoding="utf-8")
    result = cli(
        "send",
        "--to",
        "ana@example.com",
        "--to",
        "bia@example.com, Caio <caio@example.com>",
        "--cc",
        "chefe@example.com",
        "--bcc",
        "arquivo@example.com",
        "--subject",
        "Relatório mensal",
        "--body",
        "Segue o relatório.",
        "--html-file",
        str(html),
        "--attach",
        str(report),
        "--attach",
        str(notes),
        "--priority",
        "high",
    )
    status, email_id, message_id = parse(result)
    assert status == "queued"
    email = row(runtime, email_id)
    assert email.status == "pending"
    assert email.source == "cli"
    assert email.message_id == message_id
    assert email.to_emails == ["ana@example.com", "bia@example.com", "caio@example.com"]
    assert email.cc_emails == ["chefe@example.com"]
    assert email.bcc_emails == ["arquivo@example.com"]
    assert b"arquivo@example.com" not in email.raw
    assert email.subject == "Relatório mensal"
    assert email.html_body == "<p>Olá <b>mundo</b></p>"
    assert b'filename="report.pdf"' in email.raw
    with runtime.db.session() as session:
        stmt = select(EmailAttachment).where(EmailAttachment.email_id == email_id)
        attachments = {a.filename: (a.content_type, a.file_size) for a in session.scalars(stmt)}
    assert attachments == {
        "report.pdf": ("application/pdf", len(b"%PDF-1.4 fake")),
        "notes.txt": ("text/plain", len("plain notes")),
    }
    assert "captured locally" in result.stderr


def test_body_file_is_read(cli: Invoke, runtime: Runtime, tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("Linha 1\nLinha 2\n", encoding="utf-8")
    _, email_id, _ = parse(
        cli("send", "--to", "a@example.com", "--subject", "s", "--body-file", str(body))
    )
    assert row(runtime, email_id).body == "Linha 1\nLinha 2\n"


def test_at_in_the_future_schedules_the_row(cli: Invoke, runtime: Runtime) -> None:
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    local = when.astimezone(UTC).replace(tzinfo=None).isoformat() + "+02:00"
    expected = when - timedelta(hours=2)
    result = cli("send", "--to", "a@example.com", "--subject", "s", "--body", "b", "--at", local)
    _, email_id, _ = parse(result)
    email = row(runtime, email_id)
    assert email.status == "pending"
    assert email.scheduled_at == expected
    assert email.run_at == expected
    assert "scheduled for" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tomorrow", "error: --at: 'tomorrow' is not an ISO 8601 date-time"),
        ("2030-01-31T09:00:00", "error: --at: '2030-01-31T09:00:00' has no UTC offset"),
    ],
)
def test_bad_at_is_refused(cli: Invoke, runtime: Runtime, value: str, message: str) -> None:
    result = cli("send", "--to", "a@example.com", "--subject", "s", "--body", "b", "--at", value)
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with runtime.db.session() as session:
        assert session.scalar(select(Email.id)) is None


@pytest.mark.parametrize("option", ["--attach", "--body-file", "--html-file"])
def test_missing_file_is_named(cli: Invoke, runtime: Runtime, option: str) -> None:
    args = ["send", "--to", "a@example.com", "--subject", "s"]
    if option != "--body-file":
        args += ["--body", "b"]
    result = cli(*args, option, "does-not-exist.bin")
    assert result.exit_code != 0
    assert result.stderr.strip() == f"error: {option}: file not found: does-not-exist.bin"
    with runtime.db.session() as session:
        assert session.scalar(select(Email.id)) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "error: a body is required: give --body or --body-file"),
        (["--body", "b", "--body-file", "x.txt"], "error: give --body or --body-file, not both"),
        (["--body", "b", "--account", "nope"], "error: unknown or inactive account 'nope'"),
    ],
)
def test_bad_combinations_are_one_line(cli: Invoke, extra: list[str], message: str) -> None:
    result = cli("send", "--to", "a@example.com", "--subject", "s", *extra)
    assert result.exit_code == 1
    assert result.stderr.strip() == message


def test_invalid_recipient_names_the_field(cli: Invoke) -> None:
    result = cli("send", "--to", "not-an-address", "--subject", "s", "--body", "b")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: to_email")


def test_review_mode_key_holds_the_message(cli: Invoke, runtime: Runtime) -> None:
    created = cli("keys", "create", "--name", "reviewed", "--review")
    plain = re.findall(r"^API key: (\S+)$", created.stdout, re.MULTILINE)[0]
    result = cli(
        "send", "--to", "a@example.com", "--subject", "s", "--body", "b",
        env={"CARTEIRO_API_KEY": plain},
    )  # fmt: skip
    status, email_id, _ = parse(result)
    assert status == "held"
    assert row(runtime, email_id).status == "held"


def test_wait_without_a_worker_times_out(cli: Invoke, runtime: Runtime) -> None:
    result = cli("send", "--to", "a@example.com", "--subject", "s", "--body", "b", "--wait", "0.3")
    assert result.exit_code == 1
    assert QUEUED.match(result.stdout.strip())
    assert "still pending after 0.3 s" in result.stderr
