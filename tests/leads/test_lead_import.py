"""Imports through the real job machinery: messy workbooks, CSV, idempotency, atomicity."""

from __future__ import annotations

from pathlib import Path

import pytest
from leadkit import counts, create_job, import_bytes, job_of, messy, run, with_cell_text, xlsx
from sqlalchemy import select

from carteiro.leads import consent, service
from carteiro.leads.models import Lead, LeadEmail, LeadTelefone
from carteiro.leads.parse import MAX_CELL_CHARS
from carteiro.leads.schemas import LeadUpdate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal


def leads_by_name(runtime: Runtime, tenant_id: int) -> dict[str, Lead]:
    with runtime.db.session() as session:
        rows = session.scalars(select(Lead).where(Lead.tenant_id == tenant_id))
        return {lead.nome or "": lead for lead in rows}


def contacts(runtime: Runtime, lead_id: int) -> tuple[list[LeadEmail], list[LeadTelefone]]:
    with runtime.db.session() as session:
        emails = list(
            session.scalars(
                select(LeadEmail).where(LeadEmail.lead_id == lead_id).order_by(LeadEmail.email)
            )
        )
        phones = list(
            session.scalars(
                select(LeadTelefone)
                .where(LeadTelefone.lead_id == lead_id)
                .order_by(LeadTelefone.telefone)
            )
        )
        return emails, phones


def test_messy_workbook_becomes_clean_leads(runtime: Runtime, principal: Principal) -> None:
    job = import_bytes(runtime, principal, messy(), filename="Leads_Organizados.xlsx")

    assert job.status == "concluido", job.mensagem_erro
    assert (job.linhas_total, job.linhas_processadas) == (7, 7)
    assert (job.linhas_vazias, job.linhas_duplicadas) == (2, 1)
    assert (job.leads_criados, job.leads_atualizados) == (4, 0)
    assert (job.emails_criados, job.telefones_criados) == (4, 5)
    assert job.aba == "Leads" and job.formato == "xlsx"

    leads = leads_by_name(runtime, principal.tenant_id)
    assert set(leads) == {"Acme Ltda", "Beta SA", "Gama", "Delta Comércio"}
    acme = leads["Acme Ltda"]
    assert acme.origem_arquivo == "Leads_Organizados.xlsx" and acme.origem_aba == "Leads"
    assert acme.linha_planilha == 4 and leads["Gama"].linha_planilha == 8
    assert (acme.documento, acme.documento_tipo, acme.documento_valido) == (
        "00623904000173",
        "cnpj",
        True,
    )
    assert acme.documento_raw == "623904000173"
    assert acme.email_raw == "ANA@ACME.COM; vendas@acme.com.br"
    assert acme.contato_nome == "Ana Souza" and acme.status == "novo" and acme.tags == []
    assert leads["Gama"].documento_tipo == "cpf"

    emails, phones = contacts(runtime, acme.lead_id)
    assert [(e.email, e.email_principal) for e in emails] == [
        ("ana@acme.com", True),
        ("vendas@acme.com.br", False),
    ]
    assert all(e.consentimento == "unknown" and e.valido_para_disparo for e in emails)
    assert [(p.telefone, p.tipo, p.tipo_origem, p.telefone_principal) for p in phones] == [
        ("+551133334444", "landline", "whatsapp", False),
        ("+5511987654321", "mobile", "telefone", True),
    ]
    _, gama_phones = contacts(runtime, leads["Gama"].lead_id)
    assert {p.telefone for p in gama_phones} == {
        "+5511987654321",
        "+552125551234",
        "+5521999990000",
    }
    beta_emails, beta_phones = contacts(runtime, leads["Beta SA"].lead_id)
    assert beta_emails == [] and beta_phones == []
    assert leads["Beta SA"].documento_valido is False

    errors = {(e["linha"], e["coluna"], e["valor"]): e["motivo"] for e in job.erros}
    assert errors == {
        (7, "Cnpj", "11.222.333/0001-82"): "invalid CNPJ/CPF (check digits)",
        (7, "E-MAIL(S)", "fulano@"): "invalid e-mail address",
        (7, "Telefone", "98765-4321"): "invalid phone number",
    }
    assert job.erros_total == 3
    left = counts(runtime)
    assert (left["staged_leads"], left["staged_contacts"], left["uploads"]) == (0, 0, 0)


def test_reimport_updates_and_never_duplicates(runtime: Runtime, principal: Principal) -> None:
    first = import_bytes(runtime, principal, messy())
    before = counts(runtime, principal.tenant_id)
    acme = leads_by_name(runtime, principal.tenant_id)["Acme Ltda"]
    with runtime.db.session() as session:
        service.update(
            session,
            tenant_id=principal.tenant_id,
            lead_id=acme.lead_id,
            data=LeadUpdate(status="qualificado", tags=["vip"]),
        )
        email = consent.emails_of(session, lead_id=acme.lead_id)[0]
        consent.set_consent(
            session,
            tenant_id=principal.tenant_id,
            lead_id=acme.lead_id,
            email_id=email.email_id,
            consentimento="opt_out",
            origem="telefone",
        )

    second = import_bytes(runtime, principal, messy())

    assert first.leads_criados == 4
    assert second.status == "concluido"
    assert (second.leads_criados, second.leads_atualizados) == (0, 4)
    assert (second.emails_criados, second.telefones_criados) == (0, 0)
    assert counts(runtime, principal.tenant_id) == before
    again = leads_by_name(runtime, principal.tenant_id)["Acme Ltda"]
    assert again.lead_id == acme.lead_id
    assert (again.status, again.tags) == ("qualificado", ["vip"])
    assert again.ingest_job_id == second.job_id
    with runtime.db.session() as session:
        assert not consent.is_mailable(session, tenant_id=principal.tenant_id, email="ANA@acme.com")


def test_id_column_identifies_rows_across_imports(runtime: Runtime, principal: Principal) -> None:
    header = ["Código", "Nome", "Email", "Celular"]
    first = xlsx([header, [1.0, "Um", "um@x.com", None], [2, "Dois", None, "11987650002"]])
    changed = xlsx(
        [
            header,
            [1, "Um Renomeado", "outro@x.com", None],
            [2, "Dois", None, "11987650002"],
            [2, "Dois (repetido)", "dois@x.com", None],
            ["A-3", "Três", None, None],
        ]
    )
    import_bytes(runtime, principal, first)
    ids = {n: lead.lead_id for n, lead in leads_by_name(runtime, principal.tenant_id).items()}

    job = import_bytes(runtime, principal, changed)

    assert (job.leads_criados, job.leads_atualizados, job.linhas_duplicadas) == (1, 2, 1)
    leads = leads_by_name(runtime, principal.tenant_id)
    assert leads["Um Renomeado"].lead_id == ids["Um"]
    assert leads["Um Renomeado"].lead_id_externo == "1"
    assert leads["Três"].lead_id_externo == "A-3"
    # The first occurrence of id 2 keeps the fields; the repeated row adds its e-mail.
    dois = leads["Dois"]
    assert dois.lead_id == ids["Dois"]
    emails, _ = contacts(runtime, dois.lead_id)
    assert [e.email for e in emails] == ["dois@x.com"] and emails[0].email_principal
    um_emails, _ = contacts(runtime, ids["Um"])
    assert [(e.email, e.email_principal) for e in um_emails] == [
        ("outro@x.com", False),
        ("um@x.com", True),
    ]


def test_csv_by_content_with_semicolons_and_windows_encoding(
    runtime: Runtime, principal: Principal
) -> None:
    text = "Relatório de leads\n\nNome;E-mail;Celular\nJoão Ação;joao@x.com;11 98765-4321\n"
    text += '"Maria\nda Silva";maria@x.com;21987654321\n;;\nPedro;;11 3333-4444\n'
    job = import_bytes(runtime, principal, text.encode("cp1252"), filename="export")

    assert job.status == "concluido", job.mensagem_erro
    assert job.formato == "csv" and job.aba is None
    assert (job.leads_criados, job.emails_criados, job.telefones_criados) == (3, 2, 3)
    leads = leads_by_name(runtime, principal.tenant_id)
    assert leads["João Ação"].linha_planilha == 4
    # A quoted cell spanning two lines: the next row keeps its own line number.
    assert leads["Maria da Silva"].linha_planilha == 5
    assert leads["Pedro"].linha_planilha == 8


def test_sheet_by_name_or_the_first_one(runtime: Runtime, principal: Principal) -> None:
    book = xlsx([["Nome", "Email"], ["Aba", "aba@x.com"]], sheet="Clientes", extra_sheets=["X"])
    default = import_bytes(runtime, principal, book)
    named = import_bytes(runtime, principal, book, sheet="clientes")
    missing = import_bytes(runtime, principal, book, sheet="Leads 2024")

    assert default.status == "concluido" and default.aba == "Clientes"
    assert named.status == "concluido" and named.leads_atualizados == 1
    assert missing.status == "erro"
    assert missing.mensagem_erro == (
        "sheet 'Leads 2024' not found; the workbook has 'Clientes', 'X'"
    )


def test_explicit_mapping(runtime: Runtime, principal: Principal) -> None:
    book = xlsx([["Cliente", "Obs", "Contato principal"], ["Acme", "acme@x.com", "Zé"]])
    job = import_bytes(
        runtime, principal, book, mapping={"email": ["Obs"], "contato_nome": "Contato principal"}
    )
    assert job.status == "concluido", job.mensagem_erro
    lead = leads_by_name(runtime, principal.tenant_id)["Acme"]
    assert lead.contato_nome == "Zé"
    assert [e.email for e in contacts(runtime, lead.lead_id)[0]] == ["acme@x.com"]


BROKEN = {
    "not a spreadsheet": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "the file is not a spreadsheet"),
    "a broken zip": (b"PK\x03\x04 this is not a workbook", "not a readable spreadsheet"),
    "no header": (xlsx([["a", "b"], [1, 2], ["x", "y"]]), "no recognisable header row"),
    "only a header": (xlsx([["Nome", "E-mail"], [], []]), "no data rows below the header"),
    "empty workbook": (xlsx([]), "no recognisable header row"),
    "a huge cell": (
        with_cell_text(
            xlsx([["Nome", "E-mail"], ["A", "a@x.com"], ["B", "HUGE"]]),
            "HUGE",
            "x" * (MAX_CELL_CHARS + 1),
        ),
        "row 3, column 'E-mail': a cell of 32,768 characters; the limit is 32,767",
    ),
    "a huge CSV cell": (
        b"Nome,E-mail\nA," + b"y" * 60_000 + b"\n",
        "row 2, column 'E-mail': a cell of 60,000 characters; the limit is 32,767",
    ),
    "a giant CSV cell": (
        b"Nome,E-mail\nA,a@x.com\nB," + b"y" * 200_000 + b"\n",
        "row 3: a cell of more than 131,072 characters; the limit is 32,767",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_files_fail_with_a_clear_message(
    runtime: Runtime, principal: Principal, case: str
) -> None:
    content, message = BROKEN[case]
    job = import_bytes(runtime, principal, content, filename="broken.xlsx")

    assert job.status == "erro"
    assert job.mensagem_erro is not None and message in job.mensagem_erro
    assert job.erros[0]["motivo"] == job.mensagem_erro
    assert job.concluido_em is not None and job.lease_owner is None
    assert counts(runtime) == {
        "leads": 0,
        "emails": 0,
        "phones": 0,
        "staged_leads": 0,
        "staged_contacts": 0,
        "uploads": 0,
    }


def test_failure_after_rows_were_staged_imports_nothing(
    runtime: Runtime, principal: Principal
) -> None:
    import_bytes(runtime, principal, messy())
    before = counts(runtime)
    rows: list[list[object]] = [["Nome", "E-mail", "Telefone"]]
    rows += [[f"Lead {i}", f"l{i}@x.com", f"1198765{i:04d}"] for i in range(4500)]
    rows.append(["Acme Ltda", "HUGE", None])
    huge = with_cell_text(xlsx(rows), "HUGE", "x" * (MAX_CELL_CHARS + 5))
    job = import_bytes(runtime, principal, huge)

    assert job.status == "erro"
    assert job.linhas_processadas > 4000  # earlier chunks had been staged
    assert f"row {len(rows)}," in (job.mensagem_erro or "")
    assert counts(runtime) == before
    assert "Lead 1" not in leads_by_name(runtime, principal.tenant_id)


def test_a_missing_file_reference_fails_the_job(
    runtime: Runtime, principal: Principal, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    gone = tmp_path / "gone.xlsx"
    with runtime.db.session() as session:
        from carteiro.leads import jobs

        ids = [
            jobs.create(session, principal=principal, filename=p.name, path=p).job_id
            for p in (empty, gone)
        ]
    assert run(runtime) == 2
    first, second = (job_of(runtime, principal, i) for i in ids)
    assert (first.status, first.mensagem_erro) == ("erro", "the file is empty")
    assert second.status == "erro" and "file not found" in (second.mensagem_erro or "")


def test_tenants_never_see_each_others_leads(
    runtime: Runtime, principal: Principal, other_tenant: tuple[Principal, str]
) -> None:
    other, _ = other_tenant
    mine = import_bytes(runtime, principal, messy())
    theirs = import_bytes(runtime, other, messy())

    assert mine.leads_criados == theirs.leads_criados == 4
    assert counts(runtime, principal.tenant_id)["leads"] == 4
    assert counts(runtime, other.tenant_id)["leads"] == 4
    my_acme = leads_by_name(runtime, principal.tenant_id)["Acme Ltda"]
    their_acme = leads_by_name(runtime, other.tenant_id)["Acme Ltda"]
    assert my_acme.lead_id_externo == their_acme.lead_id_externo
    assert my_acme.lead_id != their_acme.lead_id
    with runtime.db.session() as session:
        assert service.get(session, tenant_id=other.tenant_id, lead_id=my_acme.lead_id) is None
        email = consent.emails_of(session, lead_id=my_acme.lead_id)[0]
        consent.set_consent(
            session,
            tenant_id=principal.tenant_id,
            lead_id=my_acme.lead_id,
            email_id=email.email_id,
            consentimento="opt_out",
        )
    with runtime.db.session() as session:
        assert not consent.is_mailable(session, tenant_id=principal.tenant_id, email=email.email)
        assert consent.is_mailable(session, tenant_id=other.tenant_id, email=email.email)


def test_jobs_run_in_creation_order(runtime: Runtime, principal: Principal) -> None:
    a = create_job(runtime, principal, xlsx([["Nome"], ["Primeiro"]]))
    b = create_job(runtime, principal, xlsx([["Nome"], ["Segundo"]]))
    assert run(runtime) == 2
    assert job_of(runtime, principal, a).concluido_em <= job_of(runtime, principal, b).concluido_em
