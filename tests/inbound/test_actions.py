"""Inbox actions reach Dovecot, are reflected in the rows at once, and a later sync keeps them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from imapclient import IMAPClient
from mcp.client import Client
from sqlalchemy import select
from typer.testing import CliRunner

from carteiro.api.app import create_app
from carteiro.cli.main import app as main_app
from carteiro.config import get_settings
from carteiro.inbound import imap_ops
from carteiro.inbound.models import InboxFolder, InboxMessage, InboxThread
from carteiro.inbound.schemas import SyncReport
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot, encode_folder
from conftest import MailFactory


def server_flags(dovecot: Dovecot, folder: str) -> dict[int, set[str]]:
    """UID → flags, as Dovecot holds them."""
    with dovecot.client() as conn:
        conn.select('"' + encode_folder(folder) + '"', readonly=True)
        _, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
    found: dict[int, set[str]] = {}
    for line in data:
        if not isinstance(line, bytes):
            continue
        match = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", line) or re.search(
            rb"FLAGS \(([^)]*)\) UID (\d+)", line
        )
        if match is None:
            continue
        a, b = match.groups()
        uid, flags = (a, b) if a.isdigit() else (b, a)
        found[int(uid)] = set(flags.decode().split())
    return found


@pytest.fixture
def client(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


@pytest.fixture
def mailbox(dovecot: Dovecot, mail: MailFactory, sync: Callable[[], SyncReport]) -> dict[str, int]:
    """A two-message thread and a lone message in INBOX, a sent copy in Sent; synced."""
    dovecot.append(
        "INBOX", mail(subject="Proposta", sender="ana@cliente.com.br", message_id="<p1@c>")
    )
    dovecot.append(
        "Sent",
        mail(
            subject="Re: Proposta",
            sender="inbox@example.com",
            message_id="<p2@c>",
            in_reply_to="<p1@c>",
        ),
        flags=["\\Seen"],
    )
    dovecot.append(
        "INBOX",
        mail(
            subject="Re: Proposta",
            sender="ana@cliente.com.br",
            message_id="<p3@c>",
            in_reply_to="<p2@c>",
            references="<p1@c> <p2@c>",
        ),
    )
    dovecot.append("INBOX", mail(subject="Boleto", sender="banco@example.net", message_id="<b@c>"))
    assert sync().new == 4
    return {"sync": 0}


def _rows(runtime: Runtime) -> dict[str, InboxMessage]:
    with runtime.db.session() as session:
        rows = list(session.scalars(select(InboxMessage)))
        session.expunge_all()
    return {r.message_id or "": r for r in rows}


def _folder(runtime: Runtime, name: str) -> InboxFolder:
    with runtime.db.session() as session:
        found = session.scalars(select(InboxFolder).where(InboxFolder.name == name)).one()
        session.expunge(found)
        return found


def _thread_of(runtime: Runtime, message_id: str) -> InboxThread:
    with runtime.db.session() as session:
        row = session.scalars(
            select(InboxMessage).where(InboxMessage.message_id == message_id)
        ).one()
        thread = session.get_one(InboxThread, row.thread_id)
        session.expunge(thread)
        return thread


def test_flag_and_read_reach_dovecot_and_a_sync_keeps_them(
    client: TestClient,
    runtime: Runtime,
    dovecot: Dovecot,
    mailbox: dict[str, int],
    sync: Callable[[], SyncReport],
) -> None:
    boleto = _rows(runtime)["<b@c>"]
    assert _folder(runtime, "INBOX").unread_count == 3

    r = client.post(f"/inbox/messages/{boleto.id}/actions", json={"action": "flag"})
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == 1 and r.json()["message_ids"] == [boleto.id]
    r = client.post(f"/inbox/messages/{boleto.id}/actions", json={"action": "read"})
    assert r.status_code == 200, r.text

    assert {"\\Flagged", "\\Seen"} <= server_flags(dovecot, "INBOX")[boleto.uid or 0]
    row = _rows(runtime)["<b@c>"]
    assert row.flagged and row.seen
    assert _folder(runtime, "INBOX").unread_count == 2
    assert _thread_of(runtime, "<b@c>").unread_count == 0

    report = sync()
    assert report.flags_changed == 0 and report.new == 0 and report.deleted == 0
    row = _rows(runtime)["<b@c>"]
    assert row.flagged and row.seen and row.id == boleto.id

    r = client.post(f"/inbox/messages/{boleto.id}/actions", json={"action": "unread"})
    r = client.post(f"/inbox/messages/{boleto.id}/actions", json={"action": "unflag"})
    assert r.status_code == 200, r.text
    assert not {"\\Flagged", "\\Seen"} & server_flags(dovecot, "INBOX")[boleto.uid or 0]
    assert sync().flags_changed == 0
    row = _rows(runtime)["<b@c>"]
    assert not row.flagged and not row.seen


def test_thread_read_and_archive_leave_sent_copies(
    client: TestClient,
    runtime: Runtime,
    dovecot: Dovecot,
    mailbox: dict[str, int],
    sync: Callable[[], SyncReport],
) -> None:
    thread = _thread_of(runtime, "<p1@c>")
    assert thread.message_count == 3 and thread.unread_count == 2
    r = client.post(f"/inbox/threads/{thread.id}/actions", json={"action": "read"})
    assert r.status_code == 200, r.text
    assert _thread_of(runtime, "<p1@c>").unread_count == 0
    before = _rows(runtime)
    inbox = server_flags(dovecot, "INBOX")
    assert "\\Seen" in inbox[before["<p1@c>"].uid or 0]
    assert "\\Seen" in inbox[before["<p3@c>"].uid or 0]
    assert "\\Seen" not in inbox[before["<b@c>"].uid or 0]

    r = client.post(f"/inbox/threads/{thread.id}/actions", json={"action": "archive"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["folder"] == "Archive" and body["moved"] == 2
    assert sorted(body["message_ids"]) == sorted([before["<p1@c>"].id, before["<p3@c>"].id])

    # On the server: gone from INBOX (only the Boleto is left), in Archive, Sent untouched.
    assert list(server_flags(dovecot, "INBOX")) == [before["<b@c>"].uid]
    assert len(server_flags(dovecot, "Archive")) == 2
    assert len(server_flags(dovecot, "Sent")) == 1
    archive = _folder(runtime, "Archive")
    after = _rows(runtime)
    for key in ("<p1@c>", "<p3@c>"):
        assert after[key].folder_id == archive.id and after[key].id == before[key].id
        assert after[key].uid in server_flags(dovecot, "Archive")
    assert after["<p2@c>"].folder_id == _folder(runtime, "Sent").id
    assert archive.message_count == 2 and _folder(runtime, "INBOX").message_count == 1

    report = sync()
    assert (report.new, report.deleted) == (0, 0)
    again = _rows(runtime)
    assert {k: (v.id, v.folder_id, v.uid) for k, v in again.items()} == {
        k: (v.id, v.folder_id, v.uid) for k, v in after.items()
    }
    listed = client.get("/inbox/threads", params={"folder": "inbox"}).json()
    assert [t["subject"] for t in listed["items"]] == ["Boleto"]
    listed = client.get("/inbox/threads", params={"folder": "archive"}).json()
    assert [t["id"] for t in listed["items"]] == [thread.id]


@pytest.mark.parametrize("missing", [("MOVE",), ("MOVE", "UIDPLUS")])
def test_move_by_copy_when_the_server_has_no_move(
    missing: tuple[str, ...],
    client: TestClient,
    runtime: Runtime,
    dovecot: Dovecot,
    mailbox: dict[str, int],
    sync: Callable[[], SyncReport],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = IMAPClient.has_capability

    def without_move(self: IMAPClient, capability: str) -> bool:
        return capability.upper() not in missing and bool(real(self, capability))

    monkeypatch.setattr(IMAPClient, "has_capability", without_move)
    boleto = _rows(runtime)["<b@c>"]
    r = client.post(
        f"/inbox/messages/{boleto.id}/actions", json={"action": "move", "folder": "junk"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["folder"] == "Junk"
    assert boleto.uid not in server_flags(dovecot, "INBOX")
    (junk_uid,) = server_flags(dovecot, "Junk")
    row = _rows(runtime)["<b@c>"]
    assert (row.id, row.folder_id, row.uid) == (boleto.id, _folder(runtime, "Junk").id, junk_uid)
    report = sync()
    assert (report.new, report.deleted) == (0, 0)


def test_delete_goes_to_trash_then_for_good(
    client: TestClient,
    runtime: Runtime,
    dovecot: Dovecot,
    mailbox: dict[str, int],
    sync: Callable[[], SyncReport],
) -> None:
    boleto = _rows(runtime)["<b@c>"]
    r = client.post(f"/inbox/messages/{boleto.id}/actions", json={"action": "delete"})
    assert r.status_code == 200, r.text
    assert r.json()["folder"] == "Trash" and r.json()["deleted_for_good"] == 0
    assert len(server_flags(dovecot, "Trash")) == 1
    assert _rows(runtime)["<b@c>"].folder_id == _folder(runtime, "Trash").id

    r = client.post(f"/inbox/messages/{boleto.id}/actions", json={"action": "delete"})
    assert r.status_code == 200, r.text
    assert r.json()["deleted_for_good"] == 1 and "for good" in r.json()["note"]
    assert server_flags(dovecot, "Trash") == {}
    assert "<b@c>" not in _rows(runtime)
    assert client.get(f"/inbox/messages/{boleto.id}").status_code == 404
    report = sync()
    assert (report.new, report.deleted) == (0, 0)
    assert "<b@c>" not in _rows(runtime)


def test_delete_without_trash_removes_for_good(
    client: TestClient,
    runtime: Runtime,
    dovecot: Dovecot,
    mailbox: dict[str, int],
) -> None:
    with runtime.db.session() as session:
        trash = session.scalars(select(InboxFolder).where(InboxFolder.role == "trash")).one()
        trash.role = None  # as on a server without a Trash folder
    thread = _thread_of(runtime, "<b@c>")
    r = client.post(f"/inbox/threads/{thread.id}/actions", json={"action": "delete"})
    assert r.status_code == 200, r.text
    assert r.json()["deleted_for_good"] == 1
    assert "no Trash folder" in r.json()["note"]
    assert server_flags(dovecot, "Trash") == {}
    assert len(server_flags(dovecot, "INBOX")) == 2
    assert client.get(f"/inbox/threads/{thread.id}").status_code == 404


def test_bad_requests_name_the_field(
    client: TestClient, runtime: Runtime, mailbox: dict[str, int]
) -> None:
    boleto = _rows(runtime)["<b@c>"]
    url = f"/inbox/messages/{boleto.id}/actions"
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (url, {"action": "move"}, 422, "folder"),
        (url, {"action": "move", "folder": "Nowhere"}, 422, "folder"),
        (url, {"action": "flag", "folder": "Archive"}, 422, "folder"),
        (url, {"action": "explode"}, 422, "action"),
        ("/inbox/messages/999999/actions", {"action": "flag"}, 404, "message_id"),
        ("/inbox/threads/999999/actions", {"action": "flag"}, 404, "thread_id"),
        ("/inbox/actions", {"action": "read"}, 422, "thread_ids"),
        ("/inbox/actions", {"action": "read", "message_ids": [0]}, 422, "message_ids[0]"),
    ]
    for path, body, code, field in cases:
        r = client.post(path, json=body)
        assert r.status_code == code, (path, body, r.text)
        assert r.json()["field"] == field, (path, body, r.text)
    assert _rows(runtime)["<b@c>"].folder_id == boleto.folder_id


def test_bulk_and_tenants_and_scopes(
    client: TestClient, runtime: Runtime, dovecot: Dovecot, mailbox: dict[str, int]
) -> None:
    rows = _rows(runtime)
    ids = [rows["<b@c>"].id, rows["<p1@c>"].id]
    r = client.post("/inbox/actions", json={"action": "flag", "message_ids": ids})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["message_ids"]) == sorted(ids)
    flagged = {u for u, f in server_flags(dovecot, "INBOX").items() if "\\Flagged" in f}
    assert flagged == {rows["<b@c>"].uid, rows["<p1@c>"].uid}

    with runtime.db.session() as session:
        other = tenancy.create_tenant(session, slug="outra")
        _, other_key = tenancy.create_key(session, tenant_id=other.id, name="o", scopes=["*"])
        _, reader_key = tenancy.create_key(
            session, tenant_id=rows["<b@c>"].tenant_id, name="r", scopes=["inbox:read"]
        )
    target = f"/inbox/messages/{rows['<b@c>'].id}/actions"
    stranger = client.post(
        target, json={"action": "unflag"}, headers={"Authorization": f"Bearer {other_key}"}
    )
    assert stranger.status_code == 404
    reader = client.post(
        target, json={"action": "unflag"}, headers={"Authorization": f"Bearer {reader_key}"}
    )
    assert reader.status_code == 403
    assert "\\Flagged" in server_flags(dovecot, "INBOX")[rows["<b@c>"].uid or 0]


def test_an_imap_refusal_is_one_sentence(
    client: TestClient, runtime: Runtime, mailbox: dict[str, int], dovecot: Dovecot
) -> None:
    boleto = _rows(runtime)["<b@c>"]
    with runtime.db.session() as session:
        archive = session.scalars(select(InboxFolder).where(InboxFolder.name == "Archive")).one()
        archive.name = "Sumiu"  # a folder the server does not have
    r = client.post(f"/inbox/messages/{boleto.id}/actions", json={"action": "archive"})
    assert r.status_code == 503, r.text
    message = r.json()["message"]
    assert message == "the IMAP server refused to move the messages to 'Sumiu'"
    assert boleto.uid in server_flags(dovecot, "INBOX")
    assert _rows(runtime)["<b@c>"].folder_id == boleto.folder_id


def test_copyuid_parsing() -> None:
    assert imap_ops.copyuid(b"12 3:5,9 20:23") == (12, {3: 20, 4: 21, 5: 22, 9: 23})
    assert imap_ops.copyuid(b"12 3:4 20") is None
    assert imap_ops.copyuid(None) is None


async def test_mcp_tools_act_on_the_server(
    runtime: Runtime, principal: Principal, dovecot: Dovecot, mailbox: dict[str, int]
) -> None:
    rows = _rows(runtime)
    async with Client(build_server(runtime, fixed_principal(principal))) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
        assert tools["delete_message"].annotations.destructive_hint is True
        assert tools["update_message"].annotations.destructive_hint is False
        assert tools["move_message"].annotations.read_only_hint is False
        done = await mcp.call_tool(
            "update_message", {"mark": "read", "message_id": rows["<b@c>"].id}
        )
        assert not done.is_error, done.content
        assert "\\Seen" in server_flags(dovecot, "INBOX")[rows["<b@c>"].uid or 0]
        moved = await mcp.call_tool(
            "move_message", {"folder": "archive", "thread_id": rows["<b@c>"].thread_id}
        )
        assert not moved.is_error, moved.content
        assert moved.structured_content and moved.structured_content["folder"] == "Archive"
        both = await mcp.call_tool(
            "delete_message", {"message_id": rows["<p1@c>"].id, "thread_id": 1}
        )
        assert both.is_error and "either message_id or thread_id" in both.content[0].text  # type: ignore[union-attr]
        reader = Principal(
            tenant_id=principal.tenant_id, key_id=None, key_name="r", scopes=("inbox:read",)
        )
    async with Client(build_server(runtime, fixed_principal(reader))) as mcp:
        refused = await mcp.call_tool("delete_message", {"message_id": rows["<p1@c>"].id})
        assert refused.is_error and "inbox:write" in refused.content[0].text  # type: ignore[union-attr]
    assert rows["<p1@c>"].uid in server_flags(dovecot, "INBOX")


def test_cli_actions(
    runtime: Runtime,
    api_key: str,
    dovecot: Dovecot,
    mailbox: dict[str, int],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    s = runtime.settings
    env = {
        "CARTEIRO_DATABASE_URL": s.database_url,
        "CARTEIRO_DATA_DIR": str(s.data_dir),
        "CARTEIRO_SECRET_KEY": str(s.secret_key),
        "CARTEIRO_API_KEY": None,
        "COLUMNS": "250",
    }

    def cli(*args: str) -> Any:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(main_app, ["inbox", *args], env=env)
        finally:
            get_settings.cache_clear()

    rows = _rows(runtime)
    flagged = cli("flag", str(rows["<b@c>"].id))
    assert flagged.exit_code == 0, flagged.output
    assert "1 changed on the server" in flagged.output
    moved = cli("move", "Junk", "--thread", str(rows["<p1@c>"].thread_id))
    assert moved.exit_code == 0, moved.output
    assert "to Junk" in moved.output
    assert len(server_flags(dovecot, "Junk")) == 2
    missing = cli("archive", "999999")
    assert missing.exit_code != 0 and "not found" in missing.output


def test_keyset_paging_and_flag_and_date_filters(
    client: TestClient,
    runtime: Runtime,
    dovecot: Dovecot,
    mail: MailFactory,
    sync: Callable[[], SyncReport],
) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    for n in range(7):
        dovecot.append("INBOX", mail(subject=f"Assunto {n}", date=start + timedelta(hours=n)))
    sync()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/inbox/threads", params=params).json()
        assert page["total"] == 7
        seen += [t["subject"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"Assunto {n}" for n in range(6, -1, -1)]
    r = client.get("/inbox/threads", params={"cursor": "bogus"})
    assert r.status_code == 422 and r.json()["field"] == "cursor"

    first = _rows(runtime)
    target = next(v for v in first.values() if v.subject == "Assunto 2")
    assert (
        client.post(
            f"/inbox/threads/{target.thread_id}/actions", json={"action": "flag"}
        ).status_code
        == 200
    )
    flagged = client.get("/inbox/threads", params={"flagged": True}).json()
    assert [t["subject"] for t in flagged["items"]] == ["Assunto 2"]
    assert client.get("/inbox/threads", params={"flagged": False}).json()["total"] == 6
    ranged = client.get(
        "/inbox/threads",
        params={
            "since": (start + timedelta(hours=1)).isoformat(),
            "until": (start + timedelta(hours=3)).isoformat(),
        },
    ).json()
    assert [t["subject"] for t in ranged["items"]] == ["Assunto 2", "Assunto 1"]


def test_account_restriction_hides_other_mailboxes(
    runtime: Runtime, dovecot: Dovecot, mailbox: dict[str, int]
) -> None:
    from carteiro.errors import NotFound
    from carteiro.inbound import actions, folders, service
    from carteiro.inbound.schemas import ActionCreate

    rows = _rows(runtime)
    boleto = rows["<b@c>"]
    with runtime.db.session() as session:
        tenant = boleto.tenant_id
        assert service.list_threads(session, tenant_id=tenant, account_ids=[]).total == 0
        seen = service.list_threads(session, tenant_id=tenant, account_ids=[boleto.account_id])
        assert seen.total == 2
        assert folders.list_folders(session, tenant_id=tenant, account_ids=[]) == []
        with pytest.raises(NotFound):
            service.get_thread(
                session, tenant_id=tenant, thread_id=boleto.thread_id, account_ids=[]
            )
        with pytest.raises(NotFound):
            service.get_message(session, tenant_id=tenant, message_id=boleto.id, account_ids=[])
    with pytest.raises(NotFound):
        actions.perform_blocking(
            runtime,
            tenant_id=tenant,
            data=ActionCreate(action="read"),
            thread_ids=[boleto.thread_id],
            account_ids=[],
        )
    assert "\\Seen" not in server_flags(dovecot, "INBOX")[boleto.uid or 0]
