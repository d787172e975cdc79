"""`carteiro inbox`: sync IMAP accounts now, list threads, read a message, act on messages."""

from __future__ import annotations

import asyncio

import typer
from rich.markup import escape
from rich.table import Table

from carteiro.accounts import imap
from carteiro.accounts import service as accounts
from carteiro.cli.common import TENANT_HELP, fail, open_runtime, out, tenant_id_for
from carteiro.errors import CarteiroError
from carteiro.inbound import actions, service
from carteiro.inbound.schemas import ActionCreate, ActionName
from carteiro.inbound.worker import sync_account

app = typer.Typer(help="The inbox: IMAP sync, threads and messages.", no_args_is_help=True)


@app.command("sync")
def sync(
    account: str | None = typer.Argument(
        None, help="Account name or id (default: every account with IMAP settings)."
    ),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Fetch new mail, flag changes and deletions now; prints one line per folder."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            if account is not None:
                found = accounts.get_or_raise(session, tenant_id=tenant_id, ref=account)
                targets = [(found.id, found.name)]
            else:
                targets = imap.imap_accounts(session, tenant_id=tenant_id)
        if not targets:
            fail("no account has IMAP settings: add imap to an account first")
        failures = 0
        for account_id, name in targets:
            try:
                report = asyncio.run(
                    sync_account(runtime, account_id=account_id, tenant_id=tenant_id)
                )
            except CarteiroError as exc:
                failures += 1
                out.print(f"{escape(name)}: failed: {escape(exc.message)}")
                continue
            for part in report.folders:
                reset = " (UIDVALIDITY changed: resynced)" if part.uidvalidity_reset else ""
                out.print(
                    f"{escape(name)} {escape(part.folder)}: {part.new} new, "
                    f"{part.flags_changed} flag changes, {part.deleted} deleted{reset}"
                )
            out.print(
                f"{escape(name)}: {report.new} new messages in {report.seconds:.1f} s"
                + (f", {report.auto_replies} automatic replies" if report.auto_replies else "")
            )
        if failures:
            fail(f"{failures} of {len(targets)} account(s) could not be synced")


@app.command("list")
def list_threads(
    folder: str | None = typer.Option(None, "--folder", help="Folder role or name."),
    unread: bool | None = typer.Option(
        None, "--unread/--read", help="Only unread (or only read) threads."
    ),
    query: str | None = typer.Option(None, "-q", "--query", help="Text to look for."),
    lead: int | None = typer.Option(None, "--lead", help="Only threads with this lead id."),
    account: str | None = typer.Option(None, "--account", help="Account name or id."),
    limit: int = typer.Option(20, "--limit", min=1, max=service.MAX_PAGE),
    offset: int = typer.Option(0, "--offset", min=0),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Threads, newest first."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            page = service.list_threads(
                session,
                tenant_id=tenant_id,
                folder=folder,
                unread=unread,
                q=query,
                lead_id=lead,
                account=account,
                limit=limit,
                offset=offset,
            )
    table = Table("thread", "last message", "from / to", "subject", "msgs", "unread")
    for t in page.items:
        table.add_row(
            str(t.id),
            t.last_message_at.strftime("%Y-%m-%d %H:%M"),
            escape(", ".join(t.participants[:2])),
            escape(t.subject or "(no subject)"),
            str(t.message_count),
            str(t.unread_count or ""),
        )
    out.print(table)
    shown = f"{offset + 1}-{offset + len(page.items)}" if page.items else "0"
    out.print(f"[dim]{shown} of {page.total} threads[/dim]")


@app.command("read")
def read(
    message_id: int = typer.Argument(..., help="Message id (see GET /inbox/threads/{id})."),
    offset: int = typer.Option(0, "--offset", min=0, help="First body character."),
    limit: int = typer.Option(20_000, "--limit", min=1, max=service.MAX_BODY_PAGE),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Print one message's headers and body."""
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        with runtime.db.session() as session:
            message = service.get_message(
                session, tenant_id=tenant_id, message_id=message_id, offset=offset, limit=limit
            )
    sender = message.from_
    out.print(f"From: {sender.email if sender else ''}", markup=False)
    out.print(f"To: {', '.join(a.email for a in message.to)}", markup=False)
    out.print(f"Date: {message.date.isoformat()}", markup=False)
    out.print(f"Subject: {message.subject}", markup=False)
    for att in message.attachments:
        out.print(
            f"Attachment: {att.filename} ({att.content_type}, {att.size} bytes)", markup=False
        )
    out.print("", markup=False)
    out.print(message.text, markup=False)
    if message.next_offset is not None:
        out.print(f"[dim]… more: --offset {message.next_offset}[/dim]")


def _act(
    action: ActionName,
    ids: list[int],
    *,
    thread: bool,
    folder: str | None,
    tenant: str | None,
) -> None:
    with open_runtime() as runtime:
        tenant_id = tenant_id_for(runtime, tenant)
        result = actions.perform_blocking(
            runtime,
            tenant_id=tenant_id,
            data=ActionCreate(action=action, folder=folder),
            message_ids=[] if thread else ids,
            thread_ids=ids if thread else [],
        )
    where = f" to {escape(result.folder)}" if result.folder and action != "delete" else ""
    out.print(
        f"{action}: {len(result.message_ids)} message(s) in {len(result.thread_ids)} "
        f"thread(s){where}; {result.changed} changed on the server"
    )
    if result.note:
        out.print(escape(result.note))


IDS_HELP = "Message ids (or thread ids with --thread)."
THREAD_HELP = "The ids are threads: act on each whole thread."


def _command(action: ActionName, help_text: str) -> None:
    def command(
        ids: list[int] = typer.Argument(..., help=IDS_HELP, min=1),
        thread: bool = typer.Option(False, "--thread", help=THREAD_HELP),
        tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
    ) -> None:
        _act(action, ids, thread=thread, folder=None, tenant=tenant)

    command.__doc__ = help_text
    app.command(action)(command)


for _name, _help in (
    ("archive", "Move messages to the account's Archive folder (All Mail on Gmail)."),
    ("flag", "Flag messages (\\Flagged); a thread's newest message."),
    ("unflag", "Remove the flag from messages."),
    ("read", "Mark messages read (\\Seen)."),
    ("unread", "Mark messages unread; a thread's newest received message."),
    (
        "delete",
        "Move messages to Trash; for good when there is no Trash or they already are in it.",
    ),
):
    _command(_name, _help)  # type: ignore[arg-type]


@app.command("move")
def move(
    folder: str = typer.Argument(..., help="Destination folder name or role (junk, inbox, …)."),
    ids: list[int] = typer.Argument(..., help=IDS_HELP, min=1),
    thread: bool = typer.Option(False, "--thread", help=THREAD_HELP),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Move messages to another folder of their account."""
    _act("move", ids, thread=thread, folder=folder, tenant=tenant)
