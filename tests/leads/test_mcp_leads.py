"""MCP tools import_leads, get_import_job, find_leads and get_lead, through an in-process client."""

from __future__ import annotations

import base64

from leadkit import counts, messy
from mcp.client import Client

from carteiro.leads import jobs
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal


async def test_import_and_find_leads(runtime: Runtime, principal: Principal) -> None:
    server = build_server(runtime, fixed_principal(principal))
    content = base64.b64encode(messy()).decode()
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        done = await client.call_tool(
            "import_leads", {"content_base64": content, "filename": "leads.xlsx"}
        )
        queued = await client.call_tool(
            "import_leads", {"content_base64": content, "filename": "again.xlsx", "wait": False}
        )
        followed = await client.call_tool(
            "get_import_job", {"job_id": queued.structured_content["job_id"]}
        )
        found = await client.call_tool("find_leads", {"q": "acme", "has_email": True})
        lead = await client.call_tool(
            "get_lead", {"lead_id": found.structured_content["items"][0]["lead_id"]}
        )

    assert {"import_leads", "get_import_job", "find_leads", "get_lead"} <= set(tools)
    assert tools["find_leads"].annotations.read_only_hint is True
    assert tools["import_leads"].annotations.read_only_hint is False
    assert tools["import_leads"].output_schema is not None
    assert not done.is_error, done.content
    result = done.structured_content
    assert (result["status"], result["leads_criados"], result["emails_criados"]) == (
        "concluido",
        4,
        4,
    )
    assert result["note"].startswith("imported: 4 leads created")
    assert followed.structured_content["status"] == "pendente"
    assert "get_import_job" in followed.structured_content["note"]
    page = found.structured_content
    assert page["total"] == 1 and page["items"][0]["nome"] == "Acme Ltda"
    assert page["untrusted"] is True
    detail = lead.structured_content
    assert [e["email"] for e in detail["emails"]] == ["ana@acme.com", "vendas@acme.com.br"]
    assert detail["telefones"][0]["telefone"] == "+5511987654321"


async def test_import_errors_are_tool_errors(runtime: Runtime, principal: Principal) -> None:
    server = build_server(runtime, fixed_principal(principal))
    jobs.uploads_dir(runtime.settings, tenant_id=principal.tenant_id).mkdir(parents=True)
    async with Client(server) as client:
        both = await client.call_tool("import_leads", {"path": "a.xlsx", "content_base64": "eA=="})
        outside = await client.call_tool("import_leads", {"path": "/etc/passwd"})
        not_b64 = await client.call_tool("import_leads", {"content_base64": "***"})
        broken = await client.call_tool(
            "import_leads",
            {"content_base64": base64.b64encode(b"\x00\x01\x02").decode(), "filename": "x"},
        )
        missing = await client.call_tool("get_import_job", {"job_id": 9999})

    assert both.is_error and "either path or content_base64" in both.content[0].text
    assert outside.is_error and "uploads folder" in outside.content[0].text
    assert not_b64.is_error and "base64" in not_b64.content[0].text
    assert not broken.is_error
    assert broken.structured_content["status"] == "erro"
    assert broken.structured_content["note"].startswith("nothing was imported: the file is")
    assert missing.is_error and "not found" in missing.content[0].text
    assert counts(runtime)["leads"] == 0
