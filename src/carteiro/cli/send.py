"""`carteiro send`: queue one message from the command line, optionally waiting for the outcome."""

from __future__ import annotations

import base64
import mimetypes
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import typer

from carteiro.cli.common import TENANT_HELP, err, fail, local_principal, open_runtime
from carteiro.outbound import service as outbound
from carteiro.outbound.schemas import AttachmentIn, EmailCreate

app = typer.Typer()

Priority = Literal["low", "normal", "high", "urgent"]
FINAL = ("sent", "failed", "dead", "cancelled")
POLL_SECONDS = 0.2


def _read_text(path: Path, option: str) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    if not path.is_file():
        fail(f"{option}: file not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"{option}: {path} is not UTF-8 text")
    except OSError as exc:
        fail(f"{option}: cannot read {path}: {exc.strerror or exc}")


def _attachment(path: Path) -> AttachmentIn:
    if not path.is_file():
        fail(f"--attach: file not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"--attach: cannot read {path}: {exc.strerror or exc}")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return AttachmentIn(
        filename=path.name,
        content_type=content_type,
        content_base64=base64.b64encode(data).decode("ascii"),
    )


def parse_at(value: str) -> datetime:
    """An ISO 8601 date-time with an offset; a naive one is refused rather than guessed."""
    example = "2030-01-31T09:00:00+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--at: '{value}' is not an ISO 8601 date-time (e.g. {example})")
    if when.tzinfo is None or when.utcoffset() is None:
        fail(f"--at: '{value}' has no UTC offset; add one, e.g. {value}+00:00 or {value}Z")
    return when


@app.command()
def send(
    to: list[str] = typer.Option(..., "--to", help="Recipient (repeatable or comma-separated)."),
    cc: list[str] = typer.Option([], "--cc", help="Cc recipient (repeatable or comma-separated)."),
    bcc: list[str] = typer.Option(
        [], "--bcc", help="Bcc recipient (repeatable or comma-separated)."
    ),
    subject: str = typer.Option(..., "--subject", help="Subject line."),
    body: str | None = typer.Option(None, "--body", help="Plain-text body."),
    body_file: Path | None = typer.Option(
        None, "--body-file", help="Read the plain-text body from this file ('-' for stdin)."
    ),
    html_file: Path | None = typer.Option(None, "--html-file", help="HTML alternative body."),
    attach: list[Path] = typer.Option([], "--attach", help="File to attach (repeatable)."),
    at: str | None = typer.Option(
        None, "--at", help="When to send: ISO 8601 with offset, e.g. 2030-01-31T09:00:00+01:00."
    ),
    priority: Priority = typer.Option("normal", "--priority", help="Queue priority."),
    account: str | None = typer.Option(
        None, "--account", help="Account name or id (default: chosen from the pool)."
    ),
    reply_to: str | None = typer.Option(None, "--reply-to", help="Reply-To address."),
    wait: float | None = typer.Option(
        None,
        "--wait",
        min=0,
        metavar="SECONDS",
        help="Wait up to SECONDS for the outcome; exit 0 only if it was sent.",
    ),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Queue a message; prints `queued <id> <message-id>` (or `held …` for review)."""
    if body is not None and body_file is not None:
        fail("give --body or --body-file, not both")
    if body is None:
        if body_file is None:
            fail("a body is required: give --body or --body-file")
        body = _read_text(body_file, "--body-file")
    html = _read_text(html_file, "--html-file") if html_file is not None else None
    scheduled = parse_at(at) if at is not None else None
    data = EmailCreate(
        # One comma-separated string: each option may itself hold several addresses.
        to_email=", ".join(to),
        cc_emails=", ".join(cc) or None,
        bcc_emails=", ".join(bcc) or None,
        subject=subject,
        body=body,
        html_body=html,
        priority=priority,
        scheduled_at=scheduled,
        attachments=[_attachment(path) for path in attach] or None,
        account=account,
        reply_to=reply_to,
    )
    with open_runtime() as runtime:
        principal = local_principal(runtime, tenant)
        with runtime.db.session() as session:
            email, _ = outbound.create(
                session, principal=principal, data=data, settings=runtime.settings, source="cli"
            )
            email_id, status, message_id = email.id, email.status, email.message_id
            captured = email.account_id is None
        # Machine-readable line on stdout; notes go to stderr so scripts can parse it.
        print(f"{'held' if status == 'held' else 'queued'} {email_id} {message_id}", flush=True)
        if status == "held":
            err.print("[dim]held for review: it is sent once someone approves it[/dim]")
        if scheduled is not None:
            if scheduled > datetime.now(UTC):
                err.print(f"[dim]scheduled for {scheduled.isoformat()}[/dim]")
            else:
                err.print("[dim]--at is in the past: sending as soon as possible[/dim]")
        if captured:
            err.print("[dim]no sending account: the message is captured locally[/dim]")
        if wait is None:
            return
        deadline = time.monotonic() + wait
        while True:
            with runtime.db.session() as session:
                row = outbound.get_or_raise(session, principal=principal, email_id=email_id)
                status, error = row.status, row.error_message
            if status in FINAL:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                fail(
                    f"email {email_id} is still {status} after {wait:g} s "
                    "(is a worker running? start carteiro serve or carteiro worker)"
                )
            time.sleep(min(POLL_SECONDS, remaining))
        if status != "sent":
            fail(f"email {email_id} {status}: {error or 'no reason recorded'}")
        print(f"sent {email_id} {message_id}", flush=True)
