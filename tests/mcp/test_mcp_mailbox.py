"""Mailbox tools through the SDK's client against a real Dovecot: folders, search, drafts, files."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp.client import Client
from mcp_types import (
    CallToolResult,
    ElicitRequestParams,
    ElicitResult,
    EmbeddedResource,
    TextContent,
)

from carteiro.inbound.schemas import SyncReport
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dovecot import Dovecot
from conftest import inbound_mail

PDF = b"%PDF-1.4 proposta " * 200


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def refused(result: CallToolResult) -> str:
    assert result.is_error
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


@pytest.fixture
def mailbox(dovecot: Dovecot, sync: Callable[[], SyncReport]) -> Dovecot:
    old = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    dovecot.append(
        "INBOX",
        inbound_mail(
            subject="ORÇAMENTO de março",
            sender="João Araújo <joao@cliente.com.br>",
            body="Olá, vocês podem enviar a proposta? Obrigado.",
            date=old,
            html="<p>" + "Proposta em anexo. " * 100 + "</p>",
            attachment=("proposta.pdf", PDF),
        ),
        date=old,
    )
    dovecot.append(
        "INBOX",
        inbound_mail(
            subject="Quote for the new office",
            sender="Mary Smith <mary@partner.example>",
            to="vendas@example.com",
            body="Hello, could you send us the quote? Thanks and best regards.",
        ),
    )
    sync()
    return dovecot


async def test_search_ignores_case_and_accents_and_filters(
    runtime: Runtime, principal: Principal, mailbox: Dovecot
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:

        async def subjects(**args: Any) -> list[str]:
            found = ok(await client.call_tool("search_inbox", args))
            return [hit["subject"] for hit in found["items"]]

        assert await subjects(query="orcamento") == ["ORÇAMENTO de março"]
        assert await subjects(query="Orçamento DE MARÇO") == ["ORÇAMENTO de março"]
        assert await subjects(query="araujo") == ["ORÇAMENTO de março"]  # a display name
        assert await subjects(from_address="mary@") == ["Quote for the new office"]
        assert await subjects(from_address="JOÃO") == ["ORÇAMENTO de março"]
        assert await subjects(to_address="vendas") == ["Quote for the new office"]
        assert await subjects(since="2026-06-01T00:00:00Z") == ["Quote for the new office"]
        assert await subjects(before="2026-06-01T00:00:00-03:00") == ["ORÇAMENTO de março"]
        assert await subjects(folder="INBOX", query="quote") == ["Quote for the new office"]
        assert await subjects(folder="inbox", query="nothing like this") == []

        unknown = refused(await client.call_tool("search_inbox", {"folder": "Caixa de entrada"}))
        assert "no folder named 'Caixa de entrada'" in unknown
        assert "INBOX" in unknown and "list_folders" in unknown

        folders = ok(await client.call_tool("list_folders", {}))["items"]
        roles = {f["name"]: f["role"] for f in folders}
        assert roles["INBOX"] == "inbox" and roles["Drafts"] == "drafts"
        inbox = next(f for f in folders if f["name"] == "INBOX")
        assert (inbox["message_count"], inbox["unread_count"]) == (2, 2)
        only = ok(await client.call_tool("list_folders", {"account": "caixa"}))["items"]
        assert len(only) == len(folders)
        assert "not found" in refused(await client.call_tool("list_folders", {"account": "x"}))


async def test_mark_move_and_draft_on_the_imap_server(
    runtime: Runtime, principal: Principal, mailbox: Dovecot, sync: Callable[[], SyncReport]
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        (hit,) = ok(await client.call_tool("search_inbox", {"query": "quote"}))["items"]
        message_id = hit["latest_message_id"]
        marked = ok(
            await client.call_tool("update_message", {"mark": "read", "message_id": message_id})
        )
        assert marked["changed"] == 1
        unread = ok(await client.call_tool("search_inbox", {"unread": True}))["items"]
        assert [t["subject"] for t in unread] == ["ORÇAMENTO de março"]

        moved = ok(
            await client.call_tool(
                "move_message", {"folder": "archive", "thread_id": hit["thread_id"]}
            )
        )
        assert moved["folder"] == "Archive"
        assert len(mailbox.uids("Archive")) == 1
        bad = await client.call_tool("move_message", {"folder": "Nope", "message_id": message_id})
        assert "no folder 'Nope'" in refused(bad)

        (original,) = ok(await client.call_tool("search_inbox", {"query": "orcamento"}))["items"]
        draft = ok(
            await client.call_tool(
                "save_draft",
                {
                    "body": "Segue a proposta revisada.",
                    "reply_to_message_id": original["latest_message_id"],
                },
            )
        )
        assert draft["folder"] == "Drafts" and draft["to"] == ["joao@cliente.com.br"]
        assert draft["subject"] == "Re: ORÇAMENTO de março"
        assert "not sent" in draft["note"]
        assert draft["uid"] in mailbox.uids("Drafts")
        with mailbox.client() as conn:
            conn.select('"Drafts"', readonly=True)
            _, data = conn.uid("FETCH", str(draft["uid"]), "(FLAGS BODY.PEEK[])")
        flags, raw = data[0][0], data[0][1]
        assert b"\\Draft" in flags
        assert b"In-Reply-To:" in raw and b"Segue a proposta revisada." in raw

        plain = ok(
            await client.call_tool(
                "save_draft", {"body": "Oi", "subject": "Nova", "to": "a@b.com", "account": "caixa"}
            )
        )
        assert plain["to"] == ["a@b.com"] and plain["subject"] == "Nova"
        nowhere = await client.call_tool("save_draft", {"body": "Oi"})
        assert "give the account" in refused(nowhere)
        sync()
        drafts = ok(await client.call_tool("search_inbox", {"folder": "drafts"}))["items"]
        assert len(drafts) == 2


async def test_attachment_download_and_html_pages(
    runtime: Runtime,
    principal: Principal,
    mailbox: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        (hit,) = ok(await client.call_tool("search_inbox", {"query": "orcamento"}))["items"]
        message = ok(
            await client.call_tool(
                "read_message",
                {"message_id": hit["latest_message_id"], "include_html": True, "limit": 500},
            )
        )
        assert len(message["html"]) == 500 and message["html_next_offset"] == 500
        rest = ok(
            await client.call_tool(
                "read_message",
                {
                    "message_id": hit["latest_message_id"],
                    "include_html": True,
                    "limit": 20_000,
                    "html_offset": 500,
                },
            )
        )
        assert rest["html_next_offset"] is None
        assert len(rest["html"]) == message["html_length"] - 500

        (attachment,) = message["attachments"]
        args = {"message_id": hit["latest_message_id"], "attachment_id": attachment["id"]}
        got = await client.call_tool("get_attachment", args)
        info = ok(got)
        assert (info["filename"], info["size"]) == ("proposta.pdf", len(PDF))
        resource = next(b for b in got.content if isinstance(b, EmbeddedResource))
        assert resource.resource.mime_type == "application/pdf"
        assert base64.b64decode(resource.resource.blob) == PDF  # type: ignore[union-attr]

    monkeypatch.setattr(runtime.settings, "mcp_attachment_max_bytes", 1000)
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        too_big = refused(await client.call_tool("get_attachment", args))
        assert f"is {len(PDF):,} bytes" in too_big and "1,000-byte limit" in too_big


async def test_reply_options_and_attribution_language(
    runtime: Runtime, principal: Principal, mailbox: Dovecot
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        (pt,) = ok(await client.call_tool("search_inbox", {"query": "orcamento"}))["items"]
        (en,) = ok(await client.call_tool("search_inbox", {"query": "quote"}))["items"]
        later = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        args = {
            "message_id": pt["latest_message_id"],
            "body": "Segue.",
            "bcc": ["arquivo@example.com"],
            "subject": "Proposta revisada",
            "send_at": later.isoformat(),
            "idempotency_key": "resposta-1",
            "attachments": [
                {"filename": "a.txt", "content_type": "text/plain", "content_base64": "b2k="}
            ],
        }
        first = ok(await client.call_tool("reply_to_message", args))
        again = ok(await client.call_tool("reply_to_message", args))
        assert first["subject"] == "Proposta revisada"
        assert datetime.fromisoformat(first["scheduled_at"]) == later
        assert (first["duplicate"], again["duplicate"]) == (False, True)
        assert again["email_id"] == first["email_id"]
        assert "not queued again" in again["note"]
        email = ok(await client.call_tool("get_email", {"id": first["email_id"]}))
        assert email["bcc_emails"] == ["arquivo@example.com"]
        assert email["status"] == "pending"

        english = ok(
            await client.call_tool(
                "reply_to_message", {"message_id": en["latest_message_id"], "body": "Sure."}
            )
        )
    with runtime.db.session() as session:
        from carteiro.outbound.models import Email

        pt_body = session.get_one(Email, first["email_id"]).body
        en_body = session.get_one(Email, english["email_id"]).body
    assert "\nEm " in pt_body and "João Araújo <joao@cliente.com.br> escreveu:" in pt_body
    assert "\nOn " in en_body and "Mary Smith <mary@partner.example> wrote:" in en_body
    assert json.dumps(first)  # the structured result is plain JSON


async def test_search_fields_and_a_reply_confirmed_in_the_client(
    runtime: Runtime, principal: Principal, mailbox: Dovecot
) -> None:
    reviewed = Principal(
        tenant_id=principal.tenant_id,
        key_id=None,
        key_name="agente",
        scopes=("emails:send", "emails:read", "inbox:read", "inbox:write"),
        review_mode=True,
    )
    asked: list[str] = []

    async def yes(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"send": True})

    server = build_server(runtime, fixed_principal(reviewed))
    async with Client(server, elicitation_callback=yes) as client:
        slim = ok(
            await client.call_tool(
                "search_inbox", {"query": "quote", "fields": ["thread_id", "latest_message_id"]}
            )
        )
        (hit,) = slim["items"]
        assert set(hit) == {"thread_id", "latest_message_id"}
        sent = ok(
            await client.call_tool(
                "reply_to_message",
                {"message_id": hit["latest_message_id"], "body": "Sure, here it is."},
            )
        )
    async with Client(server) as client:  # a client that cannot ask: the reply waits
        held = ok(
            await client.call_tool(
                "reply_to_message", {"message_id": hit["latest_message_id"], "body": "Again."}
            )
        )
    assert "reply to inbox message" in asked[0] and "Sure, here it is." in asked[0]
    assert sent["status"] == "pending" and "confirmed by the person" in sent["note"]
    assert held["status"] == "held"
