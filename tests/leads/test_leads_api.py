"""The REST API over the real app: upload, follow the job, list, read, update, consent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from leadkit import counts, messy, run, xlsx

from carteiro.leads import consent, jobs
from carteiro.outbound import service as outbound
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(client: TestClient, content: bytes, name: str = "leads.xlsx", **fields: Any) -> Any:
    data = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in fields.items()}
    return client.post("/ingest/leads/xlsx", files={"file": (name, content, XLSX_TYPE)}, data=data)


def imported(client: TestClient, runtime: Runtime, content: bytes, **fields: Any) -> dict:
    response = upload(client, content, **fields)
    assert response.status_code == 202, response.text
    run(runtime)
    job = client.get(f"/ingest/leads/jobs/{response.json()['job_id']}")
    assert job.status_code == 200
    return job.json()


def lead_id(client: TestClient, name: str) -> int:
    items = client.get("/leads", params={"q": name}).json()["items"]
    return next(item["lead_id"] for item in items if item["nome"] == name)


def test_upload_then_follow_the_job(client: TestClient, runtime: Runtime) -> None:
    response = upload(client, messy(), name="Leads_Organizados.xlsx")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted" and isinstance(body["job_id"], int)
    pending = client.get(f"/ingest/leads/jobs/{body['job_id']}").json()
    assert (pending["status"], pending["progresso"], pending["linhas_processadas"]) == (
        "pendente",
        0.0,
        0,
    )

    assert run(runtime) == 1
    job = client.get(f"/ingest/leads/jobs/{body['job_id']}").json()

    assert job["status"] == "concluido"
    assert job["arquivo_origem"] == "Leads_Organizados.xlsx"
    assert (job["linhas_processadas"], job["linhas_total"], job["progresso"]) == (7, 7, 100.0)
    assert (job["leads_criados"], job["telefones_criados"], job["emails_criados"]) == (4, 5, 4)
    assert job["erros_total"] == 3 and job["erro"] is None
    assert job["erros"][0].keys() == {"linha", "coluna", "valor", "motivo"}
    listed = client.get("/ingest/leads/jobs").json()
    assert listed["total"] == 1 and listed["items"][0]["job_id"] == body["job_id"]


def test_upload_with_sheet_and_mapping(client: TestClient, runtime: Runtime) -> None:
    book = xlsx([["Cliente", "Contato"], ["Acme", "acme@x.com"]], sheet="Base")
    job = imported(client, runtime, book, sheet="Base", mapping={"email": "Contato"})
    assert job["status"] == "concluido", job["erro"]
    assert job["aba"] == "Base" and job["emails_criados"] == 1


def test_a_broken_upload_ends_in_error(client: TestClient, runtime: Runtime) -> None:
    job = imported(client, runtime, b"%PDF-1.7\n\x00\x01\x02 not a sheet")
    assert job["status"] == "erro"
    assert job["erro"].startswith("the file is not a spreadsheet")
    assert client.get("/leads").json()["total"] == 0


def test_import_a_file_from_the_uploads_folder(
    client: TestClient, runtime: Runtime, principal: Principal
) -> None:
    folder = jobs.uploads_dir(runtime.settings, tenant_id=principal.tenant_id)
    folder.mkdir(parents=True)
    (folder / "lote.csv").write_text("Nome,Email\nAna,ana@x.com\n", encoding="utf-8")

    response = client.post("/ingest/leads/xlsx", json={"path": "lote.csv"})
    assert response.status_code == 202, response.text
    run(runtime)
    job = client.get(f"/ingest/leads/jobs/{response.json()['job_id']}").json()
    assert (job["status"], job["formato"], job["leads_criados"]) == ("concluido", "csv", 1)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"path": "/etc/hosts"}, "inside the server's uploads folder"),
        ({"path": "../../secret.xlsx"}, "inside the server's uploads folder"),
        ({"path": "missing.xlsx"}, "no such file"),
        ({"path": ""}, "path"),
        ({"file": "x"}, "path"),
    ],
)
def test_paths_outside_the_uploads_folder_are_refused(
    client: TestClient, runtime: Runtime, principal: Principal, payload: dict, message: str
) -> None:
    jobs.uploads_dir(runtime.settings, tenant_id=principal.tenant_id).mkdir(parents=True)
    response = client.post("/ingest/leads/xlsx", json=payload)
    assert response.status_code == 422
    assert message in response.json()["message"]
    assert response.json()["field"] == "path"


def test_a_tenant_cannot_import_another_tenants_upload(
    client: TestClient, runtime: Runtime, principal: Principal, other_tenant: tuple[Principal, str]
) -> None:
    theirs = jobs.uploads_dir(runtime.settings, tenant_id=principal.tenant_id)
    theirs.mkdir(parents=True)
    (theirs / "lote.csv").write_text("Nome,Email\nAna,ana@x.com\n", encoding="utf-8")
    other, key = other_tenant
    mine = jobs.uploads_dir(runtime.settings, tenant_id=other.tenant_id)
    mine.mkdir(parents=True)
    (mine / "link.csv").symlink_to(theirs / "lote.csv")
    headers = {"Authorization": f"Bearer {key}"}
    for path in ["lote.csv", str(theirs / "lote.csv"), f"../{principal.tenant_id}/lote.csv"]:
        r = client.post("/ingest/leads/xlsx", json={"path": path}, headers=headers)
        assert r.status_code == 422 and r.json()["field"] == "path", (path, r.text)
    r = client.post("/ingest/leads/xlsx", json={"path": "link.csv"}, headers=headers)
    assert r.status_code == 422 and "inside the server's uploads folder" in r.json()["message"]
    assert client.post("/ingest/leads/xlsx", json={"path": "lote.csv"}).status_code == 202


def test_bad_uploads_are_refused(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = upload(client, b"")
    no_file = client.post("/ingest/leads/xlsx", data={"sheet": "Leads"}, files={"x": ("a", b"1")})
    wrong_type = client.post(
        "/ingest/leads/xlsx", content=b"a,b", headers={"Content-Type": "text/csv"}
    )
    bad_mapping = upload(client, messy(), mapping="{not json")
    unknown_field = upload(client, messy(), mapping={"apelido": "Nome"})
    monkeypatch.setattr(jobs, "MAX_UPLOAD_BYTES", 1000)
    too_big = upload(client, b"x" * 1001, name="big.csv")

    assert (empty.status_code, empty.json()["message"]) == (422, "the file is empty")
    assert no_file.status_code == 422 and no_file.json()["field"] == "file"
    assert wrong_type.status_code == 422
    assert bad_mapping.status_code == 422 and bad_mapping.json()["field"] == "mapping"
    assert unknown_field.status_code == 422 and "apelido" in unknown_field.json()["message"]
    assert too_big.status_code == 413
    assert counts(runtime)["uploads"] == 0


def test_list_leads_with_filters(client: TestClient, runtime: Runtime) -> None:
    imported(client, runtime, messy())

    def names(**params: Any) -> list[str]:
        response = client.get("/leads", params=params)
        assert response.status_code == 200, response.text
        return sorted(item["nome"] for item in response.json()["items"])

    page = client.get("/leads").json()
    assert (page["total"], page["limit"], page["offset"]) == (4, 50, 0)
    acme = next(i for i in page["items"] if i["nome"] == "Acme Ltda")
    assert acme["email_principal"] == "ana@acme.com"
    assert acme["telefone_principal"] == "+5511987654321"
    assert acme["status"] == "novo" and acme["documento"] == "00623904000173"

    assert names(has_email="true") == ["Acme Ltda", "Gama"]
    assert names(has_phone="false") == ["Beta SA", "Delta Comércio"]
    assert names(q="acme") == ["Acme Ltda"]
    assert names(q="VENDAS@acme") == ["Acme Ltda"]
    assert names(q="623.904") == ["Acme Ltda"]
    assert names(q="98765-4321") == ["Acme Ltda", "Gama"]
    assert names(q="100%_") == []
    paged = client.get("/leads", params={"limit": 2, "offset": 3}).json()
    assert (paged["total"], len(paged["items"])) == (4, 1)

    gama = lead_id(client, "Gama")
    assert client.patch(f"/leads/{gama}", json={"status": "contatado", "tags": ["sp", "sp"]})
    assert names(status="contatado") == ["Gama"]
    assert names(tag="sp") == ["Gama"]
    assert names(tag="rj") == []
    assert client.get("/leads", params={"limit": 501}).status_code == 422
    assert client.get("/leads", params={"status": "perdido"}).status_code == 422


def test_lead_detail_with_contacts_and_messages(
    client: TestClient, runtime: Runtime, principal: Principal
) -> None:
    imported(client, runtime, messy())
    acme = lead_id(client, "Acme Ltda")
    with runtime.db.session() as session:
        for to, subject in [
            ("ana@acme.com", "Proposta"),
            ("joana@acme.com", "Outra pessoa"),
            ("x@gama.com, VENDAS@ACME.COM.BR", "Cópia"),
        ]:
            outbound.create(
                session,
                principal=principal,
                data=EmailCreate(to_email=to, subject=subject, body="Olá"),
                settings=runtime.settings,
            )

    detail = client.get(f"/leads/{acme}").json()

    assert detail["lead_id"] == acme and detail["linha_planilha"] == 4
    assert detail["origem_aba"] == "Leads" and detail["documento_raw"] == "623904000173"
    assert [e["email"] for e in detail["emails"]] == ["ana@acme.com", "vendas@acme.com.br"]
    assert detail["emails"][0]["consentimento"] == "unknown"
    assert [(p["telefone"], p["tipo"]) for p in detail["telefones"]] == [
        ("+5511987654321", "mobile"),
        ("+551133334444", "landline"),
    ]
    assert [m["subject"] for m in detail["mensagens"]] == ["Cópia", "Proposta"]
    assert client.get("/leads/999999").status_code == 404


def test_update_lead(client: TestClient, runtime: Runtime) -> None:
    imported(client, runtime, messy())
    beta = lead_id(client, "Beta SA")

    ok = client.patch(f"/leads/{beta}", json={"status": "qualificado", "tags": [" a  b ", "c"]})
    bad_status = client.patch(f"/leads/{beta}", json={"status": "perdido"})
    bad_tag = client.patch(f"/leads/{beta}", json={"tags": ["x" * 65]})
    unknown = client.patch(f"/leads/{beta}", json={"nome": "Outro"})

    assert ok.status_code == 200
    assert (ok.json()["status"], ok.json()["tags"]) == ("qualificado", ["a b", "c"])
    assert ok.json()["data_ultimo_evento"] is not None
    assert bad_status.status_code == 422 and bad_tag.status_code == 422
    assert unknown.status_code == 422


def test_consent_is_per_address_and_blocks_mailing(
    client: TestClient, runtime: Runtime, principal: Principal
) -> None:
    book = xlsx([["Nome", "Email"], ["Um", "mesmo@x.com"], ["Dois", "mesmo@x.com; outro@x.com"]])
    imported(client, runtime, book)
    um, dois = lead_id(client, "Um"), lead_id(client, "Dois")
    email_id = client.get(f"/leads/{um}").json()["emails"][0]["email_id"]

    response = client.put(
        f"/leads/{um}/emails/{email_id}/consent",
        json={"consentimento": "opt_out", "origem": "pedido por telefone"},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["consentimento"], body["consentimento_origem"]) == (
        "opt_out",
        "pedido por telefone",
    )
    assert body["consentimento_em"] is not None
    other = client.get(f"/leads/{dois}").json()["emails"]
    assert {e["email"]: e["consentimento"] for e in other} == {
        "mesmo@x.com": "opt_out",
        "outro@x.com": "unknown",
    }
    with runtime.db.session() as session:
        t = principal.tenant_id
        assert not consent.is_mailable(session, tenant_id=t, email=" Mesmo@X.com ")
        assert consent.is_mailable(session, tenant_id=t, email="outro@x.com")
        assert consent.is_mailable(session, tenant_id=t, email="never-seen@x.com")
        assert [
            e.email for e in consent.sendable_lead_emails(session, tenant_id=t, lead_id=um)
        ] == []
        sendable = consent.sendable_lead_emails(session, tenant_id=t, lead_id=dois)
        assert [e.email for e in sendable] == ["outro@x.com"]

    opt_in = client.put(f"/leads/{um}/emails/{email_id}/consent", json={"consentimento": "opt_in"})
    assert opt_in.json()["consentimento"] == "opt_in"
    wrong_lead = client.put(
        f"/leads/{dois}/emails/{email_id}/consent", json={"consentimento": "opt_out"}
    )
    bad_value = client.put(
        f"/leads/{um}/emails/{email_id}/consent", json={"consentimento": "maybe"}
    )
    assert wrong_lead.status_code == 404 and bad_value.status_code == 422


def test_another_tenant_sees_nothing(
    client: TestClient, runtime: Runtime, other_tenant: tuple[Principal, str]
) -> None:
    job = imported(client, runtime, messy())
    acme = lead_id(client, "Acme Ltda")
    email_id = client.get(f"/leads/{acme}").json()["emails"][0]["email_id"]
    _, key = other_tenant
    headers = {"Authorization": f"Bearer {key}"}

    assert client.get("/leads", headers=headers).json()["total"] == 0
    assert client.get(f"/leads/{acme}", headers=headers).status_code == 404
    assert client.patch(f"/leads/{acme}", json={"tags": []}, headers=headers).status_code == 404
    assert (
        client.put(
            f"/leads/{acme}/emails/{email_id}/consent",
            json={"consentimento": "opt_out"},
            headers=headers,
        ).status_code
        == 404
    )
    assert client.get(f"/ingest/leads/jobs/{job['job_id']}", headers=headers).status_code == 404
    assert client.get("/ingest/leads/jobs", headers=headers).json()["total"] == 0


def test_scopes_and_keys(
    client: TestClient, runtime: Runtime, key_with: Callable[..., str]
) -> None:
    imported(client, runtime, messy())
    reader = {"Authorization": f"Bearer {key_with('leads:read')}"}
    assert client.get("/leads", headers=reader).json()["total"] == 4
    assert client.get("/ingest/leads/jobs", headers=reader).status_code == 200
    assert upload(client, messy()).status_code == 202
    refused = client.post("/ingest/leads/xlsx", json={"path": "x.csv"}, headers=reader)
    assert refused.status_code == 403
    lead = client.get("/leads", headers=reader).json()["items"][0]["lead_id"]
    assert client.patch(f"/leads/{lead}", json={"tags": []}, headers=reader).status_code == 403

    headers = {"Authorization": f"Bearer {key_with('emails:read')}"}
    assert client.get("/leads", headers=headers).status_code == 403
    assert client.get("/ingest/leads/jobs", headers=headers).status_code == 403
    denied = client.post("/ingest/leads/xlsx", json={"path": "x.csv"}, headers=headers)
    assert denied.status_code == 403 and "leads:write" in denied.json()["message"]
    assert client.get("/leads", headers={"Authorization": "Bearer nope"}).status_code == 401
