"""Resources and prompts through the SDK's client: read as the caller's key, never empty."""

from __future__ import annotations

import json

import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import TextResourceContents

from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal


async def read(client: Client, uri: str) -> dict[str, object]:
    result = await client.read_resource(uri)
    (content,) = result.contents
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == "application/json"
    data = json.loads(content.text)
    assert isinstance(data, dict)
    return data


async def test_resources_and_prompts(
    runtime: Runtime, principal: Principal, smtp_account: int
) -> None:
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        templates = [
            t.uri_template for t in (await client.list_resource_templates()).resource_templates
        ]
        sent = await client.call_tool(
            "send_email", {"to": "a@example.com", "subject": "Oi", "body": "b"}
        )
        email_id = sent.structured_content["id"]  # type: ignore[index]
        accounts = await read(client, "carteiro://accounts")
        email = await read(client, f"carteiro://email/{email_id}")
        with pytest.raises(MCPError, match="not found"):
            await client.read_resource("carteiro://email/999999")
        with pytest.raises(MCPError, match="not found"):
            await client.read_resource("carteiro://thread/424242")
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        triage = await client.get_prompt("triage_unread_mail", {"limit": "5"})
        lead = await client.get_prompt("reply_to_lead", {"lead": "Ana"})
        campaign = await client.get_prompt(
            "prepare_campaign", {"audience": "leads de SP", "message": "promoção"}
        )

    assert listed == ["carteiro://accounts"]
    assert set(templates) == {"carteiro://email/{id}", "carteiro://thread/{id}"}
    (account,) = accounts["items"]  # type: ignore[misc]
    assert account["smtp"]["has_password"] is True
    assert '"password"' not in json.dumps(accounts)  # only whether one is set
    assert email["id"] == email_id and email["subject"] == "Oi"
    assert set(prompts) == {"triage_unread_mail", "reply_to_lead", "prepare_campaign"}
    assert "at most 5 threads" in triage.messages[0].content.text  # type: ignore[union-attr]
    assert "untrusted" in lead.messages[0].content.text  # type: ignore[union-attr]
    assert "leads de SP" in campaign.messages[0].content.text  # type: ignore[union-attr]


async def test_resources_follow_the_keys_scopes(runtime: Runtime, principal: Principal) -> None:
    sender = Principal(
        tenant_id=principal.tenant_id, key_id=None, key_name="s", scopes=("emails:send",)
    )
    async with Client(build_server(runtime, fixed_principal(sender))) as client:
        with pytest.raises(MCPError, match="lacks the 'accounts:read' scope"):
            await client.read_resource("carteiro://accounts")
        with pytest.raises(MCPError, match="lacks the 'emails:read' scope"):
            await client.read_resource("carteiro://email/1")
