"""Leads pages over HTTP: the list's filters in the URL, a lead's page, edits by role, CSRF."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from leadsui import HEADER, post, xlsx

from carteiro.inbound.models import InboxThread
from carteiro.leads import worker
from carteiro.runtime import Runtime
from carteiro.tenancy import audit
from carteiro.tenancy.service import Principal

ROWS = [
    HEADER,
    [
        "Padaria Pão Quente",
        "Ana Souza",
        "11.222.333/0001-81",
        "ana@padaria.com.br",
        "(11) 98765-4321",
    ],
    ["Oficina do Zé", "José Lima", "", "ze@oficina.com.br", ""],
    ["Mercado Boa Vista", "Carla Dias", "", "carla@boavista.com.br", "(21) 3222-1111"],
]


@pytest.fixture
def leads(runtime: Runtime, principal: Principal) -> dict[str, int]:
    """Three leads imported from a spreadsheet, by e-mail address."""
    from carteiro.leads import jobs, service

    with runtime.db.session() as session:
        job = jobs.create(session, principal=principal, filename="base.xlsx", content=xlsx(ROWS))
        job_id = job.job_id
    assert worker.run_now(runtime, job_id, worker_id="test")
    with runtime.db.session() as session:
        found, _ = service.list_(session, tenant_id=principal.tenant_id, limit=10)
        return {service.detail(session, lead).email_principal or "": lead.lead_id for lead in found}


def test_the_list_filters_by_search_status_consent_and_company_in_the_url(
    as_user: Callable[..., TestClient], leads: dict[str, int]
) -> None:
    viewer = as_user("viewer")
    page = viewer.get("/ui/leads")
    assert page.status_code == 200
    assert page.text.count('data-lead="') == 3
    assert "Padaria Pão Quente" in page.text and "11222333000181" in page.text
    by_phone = viewer.get("/ui/leads", params={"q": "98765"})
    assert by_phone.text.count('data-lead="') == 1 and "Padaria" in by_phone.text
    by_company = viewer.get("/ui/leads", params={"company": "oficina"})
    assert by_company.text.count('data-lead="') == 1 and "José Lima" in by_company.text
    # The filter form shows what the URL holds, so Back and reload keep them.
    assert 'value="oficina"' in by_company.text
    none = viewer.get("/ui/leads", params={"consent": "opt_out"})
    assert 'data-lead="' not in none.text and "Nenhum lead corresponde" in none.text
    assert viewer.get("/ui/leads", params={"status": "novo"}).text.count('data-lead="') == 3
    assert 'data-lead="' not in viewer.get("/ui/leads", params={"status": "convertido"}).text


def test_a_bad_filter_names_the_field(
    as_user: Callable[..., TestClient], leads: dict[str, int]
) -> None:
    page = as_user("viewer").get("/ui/leads", params={"status": "bogus"})
    assert page.status_code == 422 and "status" in page.text


def test_the_list_pages_keep_the_filters(
    as_user: Callable[..., TestClient], runtime: Runtime, principal: Principal
) -> None:
    from carteiro.leads import jobs

    rows = [HEADER] + [
        [f"Loja {i}", f"Pessoa {i}", "", f"p{i}@lojas.com.br", ""] for i in range(60)
    ]
    with runtime.db.session() as session:
        job_id = jobs.create(
            session, principal=principal, filename="lojas.xlsx", content=xlsx(rows)
        ).job_id
    worker.run_now(runtime, job_id, worker_id="test")
    viewer = as_user("viewer")
    first = viewer.get("/ui/leads", params={"company": "loja"})
    assert first.text.count('data-lead="') == 50
    assert 'href="/ui/leads?company=loja&amp;offset=50"' in first.text
    second = viewer.get("/ui/leads", params={"company": "loja", "offset": 50})
    assert second.text.count('data-lead="') == 10
    assert 'href="/ui/leads?company=loja"' in second.text


def test_an_empty_list_says_what_to_do(as_user: Callable[..., TestClient]) -> None:
    operator = as_user("operator")
    page = operator.get("/ui/leads")
    assert "Nenhum lead ainda" in page.text and 'href="/ui/leads/import"' in page.text


def test_a_lead_page_shows_its_data_consent_messages_and_threads(
    as_user: Callable[..., TestClient],
    runtime: Runtime,
    principal: Principal,
    api_key: str,
    web: Callable[[], TestClient],
    leads: dict[str, int],
    make_account: Callable[[str], int],
) -> None:
    lead_id = leads["ana@padaria.com.br"]
    api = web()
    sent = api.post(
        "/emails",
        json={"to_email": "ana@padaria.com.br", "subject": "Proposta", "body": "Olá"},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert sent.status_code == 201, sent.text
    account_id = make_account("vendas")
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        thread = InboxThread(
            tenant_id=principal.tenant_id,
            account_id=account_id,
            subject="Re: Proposta",
            participants=["ana@padaria.com.br"],
            first_message_at=now,
            last_message_at=now,
            message_count=2,
            lead_id=lead_id,
        )
        session.add(thread)
        session.flush()
        thread_id = thread.id
    admin = as_user("admin")
    page = admin.get(f"/ui/leads/{lead_id}")
    assert page.status_code == 200
    text = page.text
    assert "Padaria Pão Quente" in text and "Ana Souza" in text
    assert "CNPJ 11222333000181" in text and "válido" in text
    assert 'data-email="ana@padaria.com.br"' in text and 'data-consent="unknown"' in text
    assert "+5511987654321" in text
    assert f'href="/ui/outbox/{sent.json()["id"]}"' in text
    assert f'href="/ui/inbox?thread={thread_id}"' in text
    # A viewer without the mailbox does not see its conversation, and cannot edit.
    viewer = as_user("viewer")
    seen = viewer.get(f"/ui/leads/{lead_id}").text
    assert f"thread={thread_id}" not in seen and 'name="consentimento"' not in seen
    assert viewer.get("/ui/leads/999999").status_code == 404


def test_operators_edit_status_tags_and_consent_and_it_is_audited(
    as_user: Callable[..., TestClient],
    runtime: Runtime,
    principal: Principal,
    leads: dict[str, int],
) -> None:
    lead_id = leads["ze@oficina.com.br"]
    operator = as_user("operator")
    saved = post(operator, f"/ui/leads/{lead_id}", {"status": "qualificado", "tags": "vip, sp"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("?notice=saved")
    page = operator.get(saved.headers["location"]).text
    assert 'data-status="qualificado"' in page and "vip, sp" in page and "Salvo." in page
    bad = post(operator, f"/ui/leads/{lead_id}", {"status": "bogus", "tags": ""})
    assert bad.status_code == 422 and "Escolha um status da lista." in bad.text
    too_long = post(operator, f"/ui/leads/{lead_id}", {"status": "novo", "tags": "x" * 65})
    assert too_long.status_code == 422 and 'id="tags-error"' in too_long.text

    email_id = _email_id(operator, lead_id, "ze@oficina.com.br")
    consent = post(
        operator,
        f"/ui/leads/{lead_id}/emails/{email_id}/consent",
        {"consentimento": "opt_out"},
    )
    assert consent.status_code == 303
    assert 'data-consent="opt_out"' in operator.get(f"/ui/leads/{lead_id}").text
    assert 'data-lead="' in operator.get("/ui/leads", params={"consent": "opt_out"}).text
    with runtime.db.session() as session:
        entries, _ = audit.list_(session, tenant_id=principal.tenant_id, filter=audit.AuditFilter())
        actions = {e.action for e in entries}
    assert {"lead_update", "consent_update"} <= actions


def _email_id(client: TestClient, lead_id: int, email: str) -> int:
    import re

    page = client.get(f"/ui/leads/{lead_id}").text
    found = re.search(rf"/ui/leads/{lead_id}/emails/(\d+)/consent", page)
    assert found, page
    return int(found.group(1))


def test_a_viewer_cannot_edit_and_a_post_without_csrf_is_refused(
    as_user: Callable[..., TestClient], leads: dict[str, int]
) -> None:
    lead_id = leads["ze@oficina.com.br"]
    viewer = as_user("viewer")
    refused = post(viewer, f"/ui/leads/{lead_id}", {"status": "convertido", "tags": ""})
    assert refused.status_code == 403
    operator = as_user("operator")
    no_token = operator.post(
        f"/ui/leads/{lead_id}", data={"status": "convertido"}, follow_redirects=False
    )
    assert no_token.status_code == 403
    assert 'data-status="novo"' in operator.get(f"/ui/leads/{lead_id}").text


def test_a_lead_page_shows_only_the_mail_of_the_persons_mailboxes(
    as_user: Callable[..., TestClient],
    runtime: Runtime,
    principal: Principal,
    leads: dict[str, int],
    make_account: Callable[[str], int],
) -> None:
    from carteiro.outbound import service as outbound
    from carteiro.outbound.schemas import EmailCreate

    lead_id = leads["ana@padaria.com.br"]
    granted, other = make_account("vendas"), make_account("cobranca")
    ids = {}
    with runtime.db.session() as session:
        for subject, account in [("Pelo vendas", granted), ("Pela cobrança", other)]:
            email, _ = outbound.create(
                session,
                principal=principal,
                data=EmailCreate(to_email="ana@padaria.com.br", subject=subject, body="Olá"),
                settings=runtime.settings,
            )
            email.account_id = account
            ids[subject] = email.id
    admin = as_user("admin").get(f"/ui/leads/{lead_id}").text
    operator = as_user("operator", grants=(granted,)).get(f"/ui/leads/{lead_id}").text
    assert all(f'href="/ui/outbox/{i}"' in admin for i in ids.values())
    assert f'href="/ui/outbox/{ids["Pelo vendas"]}"' in operator
    assert f'href="/ui/outbox/{ids["Pela cobrança"]}"' not in operator


def test_the_current_filter_exports_as_csv_and_is_audited(
    as_user: Callable[..., TestClient],
    runtime: Runtime,
    principal: Principal,
    leads: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import csv
    import io

    from carteiro.leads import export

    operator = as_user("operator")
    page = operator.get("/ui/leads", params={"q": "a", "company": "oficina"}).text
    assert 'href="/ui/leads/export?q=a&amp;company=oficina"' in page
    response = operator.get("/ui/leads/export", params={"company": "oficina"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="leads-')
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == list(export.COLUMNS)
    assert [(r[2], r[3], r[8]) for r in rows[1:]] == [
        ("Oficina do Zé", "José Lima", "ze@oficina.com.br")
    ]
    # Every lead, in chunks (keyset), newest first; phones keep their +, formulas are defused.
    monkeypatch.setattr(export, "CHUNK", 2)
    with runtime.db.session() as session:
        from carteiro.leads.models import Lead

        lead = session.get(Lead, leads["carla@boavista.com.br"])
        assert lead is not None
        lead.contato_nome = '=HYPERLINK("http://x")'
    every = list(csv.reader(io.StringIO(operator.get("/ui/leads/export").content.decode())))
    assert [int(r[0]) for r in every[1:]] == sorted(leads.values(), reverse=True)
    assert "+5511987654321" in [r[9] for r in every[1:]]
    assert '\'=HYPERLINK("http://x")' in [r[3] for r in every[1:]]

    assert as_user("viewer").get("/ui/leads/export").status_code == 403
    assert operator.get("/ui/leads/export", params={"consent": "x"}).status_code == 422
    with runtime.db.session() as session:
        entries, _ = audit.list_(
            session, tenant_id=principal.tenant_id, filter=audit.AuditFilter(action="export")
        )
    assert len(entries) == 2 and entries[-1].detail == {
        "format": "csv",
        "filters": {"company": "oficina"},
    }
