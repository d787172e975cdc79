"""A running Carteiro answers lead searches through its trigram indexes (migration 0016): a
spreadsheet imported by the worker is found by name, e-mail, phone and document, and a lead's
page lists the mail sent to it."""

from __future__ import annotations

import io

import openpyxl
import pytest
from e2ekit import wait_final, wait_until

from carteiro.testing.pipelining_sink import PipeliningSink
from conftest import Server

pytestmark = pytest.mark.e2e

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROWS = [
    ["Razão Social", "Responsável", "CNPJ", "E-mail", "Telefone"],
    ["Padaria Pão Quente", "Ana Souza", "11.222.333/0001-81", "ana@padaria.com.br", "11987654321"],
    ["Oficina do Zé", "José Lima", "", "ze@oficina.com.br", "(21) 3222-1111"],
]


def _workbook() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in ROWS:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_imported_leads_are_found_by_search_and_show_their_mail(
    server: Server, sink: PipeliningSink
) -> None:
    with server.client() as http:
        job = http.post(
            "/ingest/leads/xlsx", files={"file": (f"{server.mode}.xlsx", _workbook(), XLSX)}
        )
        assert job.status_code == 202, job.text
        url = f"/ingest/leads/jobs/{job.json()['job_id']}"
        done = wait_until(
            lambda: (j := http.get(url).json())["status"] in ("concluido", "erro") and j,
            60,
            "the import to finish",
        )
        assert done["status"] == "concluido", done

        def names(q: str) -> list[str]:
            response = http.get("/leads", params={"q": q})
            assert response.status_code == 200, response.text
            return sorted(item["nome"] for item in response.json()["items"])

        assert names("pão quente") == ["Padaria Pão Quente"]
        assert names("ZE@OFICINA") == ["Oficina do Zé"]
        assert names("3222-1111") == ["Oficina do Zé"]
        assert names("222.333") == ["Padaria Pão Quente"]
        assert names("nada disso") == []

        lead = http.get("/leads", params={"q": "ana@padaria"}).json()["items"][0]
        sent = http.post(
            "/emails",
            json={"to_email": "Ana@Padaria.com.br", "subject": "Proposta", "body": "Olá"},
        )
        assert sent.status_code == 201, sent.text
        assert wait_final(http, sent.json()["id"])["status"] == "sent"
        detail = http.get(f"/leads/{lead['lead_id']}").json()
        assert [m["subject"] for m in detail["mensagens"]] == ["Proposta"]
