"""Lead search through the trigram indexes finds exactly what the full scan finds, on every
write path (import, re-import, update, delete), and a lead's page finds mail by recipient."""

from __future__ import annotations

from leadkit import HEADER, import_bytes, xlsx
from sqlalchemy import delete, select, text

from carteiro.leads import search
from carteiro.leads import service as leads
from carteiro.leads.models import Lead, LeadEmail, LeadTelefone
from carteiro.leads.schemas import LeadUpdate
from carteiro.outbound import service as outbound
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal

ROWS = [
    ["Acme Ltda", "Ana Souza", "06.990.590/0001-23", "ana@acme.com; VENDAS@acme.com.br", ""],
    ["AÇÚCAR & CIA", "João Ção", "", "joao@acucar.com.br", "(11) 98765-4321"],
    ["Padaria São José", "José da Silva", "123.456.789-09", "", "+55 21 3333-4444"],
    ["100% Natural_Ltda", "Back\\Slash", "abc-123", "cem@natural.com", "11 4002-8922"],
    ['Aspas "Duplas" SA', "O'Neil", "", "aspas@duplas.org", ""],
    ["açúcar mascavo", "maria", "11.222.333/0001-81", "maria@mascavo.com", "(21) 99876-5432"],
    ["Gama", "", "", "", "21 98765-4321"],
]
QUERIES = [
    "acme",
    "ACME",
    "Ana Sou",
    "vendas@acme",
    "@acme.com",
    "ção",
    "ÇÃO",
    "açúcar",
    "AÇÚCAR",
    "são j",
    "100%",
    "l_l",
    "natural_",
    "%",
    "_",
    "\\",
    "back\\s",
    '"duplas"',
    "o'neil",
    "98765-4321",
    "987654321",
    "4321",
    "3333",
    "623",
    "06990590",
    "abc-123",
    "123",
    "12",
    "ma",
    "a",
    "zz",
    "c3",
    "ext-nada",
    "nada mesmo",
    ".com",
    " e ",
]


def _book(rows: list[list[str]]) -> bytes:
    """The rows with an id column (c1, c2, ...), so that a re-import updates the same leads."""
    return xlsx([["ID", *HEADER[:5]], *([f"c{i}", *row] for i, row in enumerate(rows, 1))])


def _scan(runtime: Runtime, tenant_id: int, q: str) -> list[int]:
    """What the search finds by reading every lead (the meaning the indexes must keep)."""
    with runtime.db.session() as session:
        stmt = (
            select(Lead.lead_id)
            .where(Lead.tenant_id == tenant_id, search.scan(q))
            .order_by(Lead.lead_id.desc())
        )
        return list(session.scalars(stmt))


def _searched(runtime: Runtime, tenant_id: int, q: str, **filters: str) -> tuple[list[int], int]:
    with runtime.db.session() as session:
        found, total = leads.list_(session, tenant_id=tenant_id, q=q, limit=500, **filters)
        return [lead.lead_id for lead in found], total


def _assert_same(runtime: Runtime, tenant_id: int) -> None:
    with runtime.db.session() as session:
        if session.get_bind().dialect.name == "sqlite":
            # Raises when an FTS index and its table disagree (a trigger missed a write).
            for fts in ("leads_fts", "lead_emails_fts", "lead_telefones_fts"):
                session.execute(
                    text(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")
                )
    for q in QUERIES:
        expected = _scan(runtime, tenant_id, q.strip())
        assert _searched(runtime, tenant_id, q) == (expected, len(expected)), q


def _other_tenant(runtime: Runtime) -> Principal:
    with runtime.db.session() as session:
        tenant = tenancy.create_tenant(session, slug="outro")
        _, plain = tenancy.create_key(session, tenant_id=tenant.id, name="outro")
    return runtime.authenticate(plain)


def test_indexed_search_finds_what_the_scan_finds(runtime: Runtime, principal: Principal) -> None:
    other = _other_tenant(runtime)
    import_bytes(runtime, principal, _book(ROWS))
    # The same names in another tenant: never found from the first.
    import_bytes(runtime, other, _book(ROWS[:3]))
    tenant = principal.tenant_id

    _assert_same(runtime, tenant)
    names = {q: _searched(runtime, tenant, q)[1] for q in ("acme", "JOão", "100%", "4321", "zz")}
    assert names == {"acme": 1, "JOão": 1, "100%": 1, "4321": 2, "zz": 0}
    with runtime.db.session() as session:
        acme = session.scalars(select(Lead).where(Lead.nome == "Acme Ltda")).all()
    assert len(acme) == 2  # one per tenant
    assert _searched(runtime, other.tenant_id, "acme") == (
        [lead.lead_id for lead in acme if lead.tenant_id == other.tenant_id],
        1,
    )
    # Search and the other filters together.
    assert _searched(runtime, tenant, "a", company="mascavo")[1] == 1
    assert _searched(runtime, tenant, "acme", status="descartado") == ([], 0)


def test_the_indexes_follow_every_write(runtime: Runtime, principal: Principal) -> None:
    tenant = principal.tenant_id
    import_bytes(runtime, principal, _book(ROWS))
    # A re-import renames a lead and adds an e-mail and a phone to it (the upsert's update).
    renamed = ["Acme Renomeada", "Ana Souza", "06.990.590/0001-23", "novo@acme.net", "1155556666"]
    import_bytes(runtime, principal, xlsx([["ID", *HEADER[:5]], ["c1", *renamed]]))
    assert _searched(runtime, tenant, "acme ltda")[1] == 0
    assert _searched(runtime, tenant, "renomeada")[1] == 1
    assert _searched(runtime, tenant, "novo@acme")[1] == 1
    assert _searched(runtime, tenant, "55556666")[1] == 1
    _assert_same(runtime, tenant)

    with runtime.db.session() as session:
        gama = session.scalars(select(Lead).where(Lead.nome == "Gama")).one()
        leads.update(
            session, tenant_id=tenant, lead_id=gama.lead_id, data=LeadUpdate(status="contatado")
        )
        gama.nome = "Gama Editada"  # any update of the row, not only the service's
        session.execute(delete(LeadEmail).where(LeadEmail.email == "maria@mascavo.com"))
        session.execute(delete(LeadTelefone).where(LeadTelefone.telefone.like("%40028922")))
        session.delete(session.scalars(select(Lead).where(Lead.nome == "Padaria São José")).one())
    assert _searched(runtime, tenant, "editada")[1] == 1
    assert _searched(runtime, tenant, "maria@")[1] == 0
    assert _searched(runtime, tenant, "40028922")[1] == 0
    assert _searched(runtime, tenant, "são j")[1] == 0
    _assert_same(runtime, tenant)

    # Deleting the tenant cascades to its leads; another tenant's search still works.
    other = _other_tenant(runtime)
    import_bytes(runtime, other, _book(ROWS[:2]))
    with runtime.db.session() as session:
        session.delete(tenancy.get_tenant_by_slug_or_raise(session, slug="outro"))
    with runtime.db.session() as session:
        left = session.scalars(select(Lead.tenant_id).distinct()).all()
    assert left == [tenant]
    _assert_same(runtime, tenant)


def test_a_leads_page_finds_its_mail_by_exact_recipient(
    runtime: Runtime, principal: Principal
) -> None:
    import_bytes(runtime, principal, _book(ROWS[:1]))
    sent = [
        ("ana@acme.com", "Só para a Ana"),
        ("ANA@ACME.COM", "Em maiúsculas"),
        ("x@gama.com, Vendas@Acme.com.br", "Cópia"),
        ("bana@acme.com", "Outra pessoa"),
        ("ana@acme.com.ar", "Outro domínio"),
        ("x@gama.com, ana@acme.com.ar", "Outro domínio, várias"),
    ]
    with runtime.db.session() as session:
        for to, subject in sent:
            outbound.create(
                session,
                principal=principal,
                data=EmailCreate(to_email=to, subject=subject, body="Olá"),
                settings=runtime.settings,
            )
    with runtime.db.session() as session:
        lead = session.scalars(select(Lead).where(Lead.tenant_id == principal.tenant_id)).one()
        subjects = [m.subject for m in leads.detail(session, lead).mensagens]
    assert subjects == ["Cópia", "Em maiúsculas", "Só para a Ana"]
