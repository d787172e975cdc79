"""Outbox search through the trigram indexes finds exactly what the full scan finds, pages the
same way, and stays right after new mail, status changes, edits and deletions."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update

from carteiro.db.types import utcnow
from carteiro.mail.transports.base import SendResult
from carteiro.outbound import queue, search, service
from carteiro.outbound.models import Email
from carteiro.outbound.outcome import Outcome, RetryPolicy
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal

MAIL = [
    ("ana@cliente.com.br", "Proposta comercial"),
    ("ANA.SOUZA@Cliente.com.br", "PROPOSTA Revisada"),
    ("bruno@cliente.com.br, carla@outra.org", "Boleto de março"),
    ("joao@acucar.com.br", "AÇÚCAR & CIA: orçamento"),
    ("maria@mascavo.com", "açúcar mascavo"),
    ("cem@natural.com", "100% Natural_Ltda"),
    ("back@slash.net", "Back\\Slash"),
    ("aspas@duplas.org", 'Aspas "Duplas" e O\'Neil'),
    ("zeca@exemplo.com", "Relatório de 2026"),
]
QUERIES = [
    "ana",
    "ANA@cliente",
    "  ana@cliente  ",
    "cliente.com.br",
    "proposta",
    "PROPOSTA rev",
    "carla@outra",
    "março",
    "MARÇO",
    "açúcar",
    "AÇÚCAR",
    "acucar",
    "orçamento",
    "100%",
    "l_l",
    "natural_",
    "%",
    "_",
    "\\",
    "back\\s",
    '"duplas"',
    "o'neil",
    "2026",
    "@",
    "de",
    "zz",
    "nada mesmo",
    ".com",
    " e ",
]
POLICY = RetryPolicy(base_seconds=10, max_seconds=60)


def _send(runtime: Runtime, principal: Principal, mail: list[tuple[str, str]]) -> list[int]:
    with runtime.db.session() as session:
        return [
            service.create(
                session,
                principal=principal,
                data=EmailCreate(to_email=to, subject=subject, body="Olá"),
                settings=runtime.settings,
            )[0].id
            for to, subject in mail
        ]


def _scan(runtime: Runtime, tenant_id: int, q: str, status: str | None = None) -> list[int]:
    """What the search finds by reading every message (the meaning the indexes must keep)."""
    with runtime.db.session() as session:
        stmt = select(Email.id).where(Email.tenant_id == tenant_id, search.scan(q))
        if status:
            stmt = stmt.where(Email.status == status)
        return list(session.scalars(stmt.order_by(Email.id.desc())))


def _searched(
    runtime: Runtime, principal: Principal, q: str, *, status: str | None = None, limit: int = 200
) -> tuple[list[int], int]:
    with runtime.db.session() as session:
        found, total = service.list_(
            session, principal=principal, search=q, status=status, limit=limit
        )
        return [email.id for email in found], total


def _message_id(runtime: Runtime, email_id: int) -> str:
    with runtime.db.session() as session:
        return str(session.scalar(select(Email.message_id).where(Email.id == email_id)))


def _assert_same(runtime: Runtime, principal: Principal, *extra: str) -> None:
    with runtime.db.session() as session:
        if session.get_bind().dialect.name == "sqlite":
            # Raises when the FTS index and the table disagree (a trigger missed a write).
            session.execute(
                text("INSERT INTO emails_fts(emails_fts, rank) VALUES ('integrity-check', 1)")
            )
    for q in (*QUERIES, *extra):
        expected = _scan(runtime, principal.tenant_id, q)
        assert _searched(runtime, principal, q) == (expected, len(expected)), repr(q)


def _other_tenant(runtime: Runtime) -> Principal:
    with runtime.db.session() as session:
        tenant = tenancy.create_tenant(session, slug="outro")
        _, plain = tenancy.create_key(session, tenant_id=tenant.id, name="outro")
    return runtime.authenticate(plain)


def test_indexed_search_finds_what_the_scan_finds(runtime: Runtime, principal: Principal) -> None:
    ids = _send(runtime, principal, MAIL)
    other = _other_tenant(runtime)
    _send(runtime, other, MAIL[:3])  # the same mail in another tenant: never found from here
    by_id = dict(zip(ids, MAIL, strict=True))
    mid = _message_id(runtime, ids[4])
    piece = mid[1:12]  # a piece of the generated Message-ID, as a person pastes it

    _assert_same(runtime, principal, mid, piece, mid.upper())
    assert _searched(runtime, principal, piece) == ([ids[4]], 1)
    assert _searched(runtime, principal, "ANA@cliente") == ([ids[0]], 1)
    assert _searched(runtime, principal, "ana") == ([ids[1], ids[0]], 2)
    assert _searched(runtime, principal, "carla@outra") == ([ids[2]], 1)
    assert _searched(runtime, principal, "100%")[0] == [ids[5]]
    assert _searched(runtime, principal, "%") == ([ids[5]], 1)  # literal, not a wildcard
    assert _searched(runtime, principal, "zz") == ([], 0)
    # Case folds as the database's lower() does (ASCII on SQLite, the locale beyond it on
    # PostgreSQL); accents are never folded.
    assert _searched(runtime, principal, "acucar")[0] == [ids[3]]  # the address only
    assert by_id[ids[4]][1] == "açúcar mascavo"
    assert ids[4] in _searched(runtime, principal, "açúcar")[0]
    assert _searched(runtime, other, "proposta")[1] == 2
    assert _searched(runtime, other, "mascavo") == ([], 0)


def test_search_pages_and_other_filters(runtime: Runtime, principal: Principal) -> None:
    mail = [(f"pessoa{i}@lista.com.br", f"Convite {i}") for i in range(23)]
    ids = _send(runtime, principal, [*mail, ("fora@outro.net", "Nada a ver")])
    expected = sorted(ids[:23], reverse=True)
    pages = []
    with runtime.db.session() as session:
        for offset in range(0, 30, 10):
            found, total = service.list_(
                session, principal=principal, search="lista.com", limit=10, offset=offset
            )
            assert total == 23
            pages.append([email.id for email in found])
    assert [len(p) for p in pages] == [10, 10, 3]
    assert [i for page in pages for i in page] == expected
    with runtime.db.session() as session:
        service.cancel(session, principal=principal, email_id=ids[3])
    assert _searched(runtime, principal, "convite", status="cancelled") == ([ids[3]], 1)
    assert _searched(runtime, principal, "convite", status="pending")[1] == 22


def test_the_index_follows_new_mail_status_changes_edits_and_deletions(
    runtime: Runtime, principal: Principal
) -> None:
    first = _send(runtime, principal, MAIL)
    _assert_same(runtime, principal)

    # New mail after the index was built, one by one and in a batch.
    later = _send(runtime, principal, [("nova@cliente.com.br", "Proposta nova")])
    with runtime.db.session() as session:
        batch = service.create_batch(
            session,
            principal=principal,
            items=[EmailCreate(to_email="lote@cliente.com.br", subject="Em lote", body="b")],
            settings=runtime.settings,
        )
    assert _searched(runtime, principal, "nova@cli") == (later, 1)
    assert _searched(runtime, principal, "em lote") == ([batch[0].id], 1)
    _assert_same(runtime, principal)

    # Status changes by people (cancelled) and by the queue (claimed, sent): the search still
    # finds the messages, and with a status filter, by their new status.
    with runtime.db.session() as session:
        service.cancel(session, principal=principal, email_id=first[8])
    with runtime.db.session() as session:
        claimed = queue.claim(session, worker_id="w1", limit=50, lease_seconds=30)
        assert {c.id for c in claimed} >= set(first[:8])
        sent = [c for c in claimed if c.id in (first[0], first[1])]
        outcomes = [
            Outcome(c, "capture", utcnow(), 0.01, result=SendResult(250, "2.0.0 OK", 0.01))
            for c in sent
        ]
        queue.complete(session, worker_id="w1", outcomes=outcomes, policy=POLICY)
    assert _searched(runtime, principal, "ana", status="sent") == ([first[1], first[0]], 2)
    assert _searched(runtime, principal, "ana", status="sending") == ([], 0)
    assert _searched(runtime, principal, "relatório", status="cancelled") == ([first[8]], 1)
    _assert_same(runtime, principal)

    # Any update of a searched column, not only the service's, and deletions.
    with runtime.db.session() as session:
        session.execute(
            update(Email).where(Email.id == first[5]).values(subject="Renomeada", to_email="x@y.z")
        )
        email = session.get(Email, first[6])
        assert email is not None
        email.subject = "Editada pelo ORM"
        session.execute(delete(Email).where(Email.id == first[7]))
    assert _searched(runtime, principal, "natural") == ([], 0)
    assert _searched(runtime, principal, "renomeada") == ([first[5]], 1)
    assert _searched(runtime, principal, "pelo orm") == ([first[6]], 1)
    assert _searched(runtime, principal, "duplas") == ([], 0)
    _assert_same(runtime, principal, "renomeada", "pelo orm", "x@y.z")

    # Deleting a tenant cascades to its mail; this tenant's search still works.
    other = _other_tenant(runtime)
    _send(runtime, other, MAIL)
    with runtime.db.session() as session:
        session.delete(tenancy.get_tenant_by_slug_or_raise(session, slug="outro"))
    with runtime.db.session() as session:
        assert session.scalars(select(Email.tenant_id).distinct()).all() == [principal.tenant_id]
    _assert_same(runtime, principal)


def test_the_search_is_served_by_the_trigram_indexes(
    runtime: Runtime, principal: Principal
) -> None:
    _send(runtime, principal, MAIL)
    with runtime.db.session() as session:
        bind = session.get_bind()
        stmt = select(Email.id).where(search.matches(session, q="cliente"))
        compiled = stmt.compile(bind, compile_kwargs={"literal_binds": True})
        if bind.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            )
            assert "emails_fts VIRTUAL TABLE" in plan, plan
        else:
            # On a few rows a scan is cheaper: with only bitmap scans allowed, the plan shows
            # that the trigram index can serve the search (its expression matches the query's).
            for kind in ("seqscan", "indexscan", "indexonlyscan"):
                session.execute(text(f"SET LOCAL enable_{kind} = off"))
            plan = " ".join(str(r[0]) for r in session.execute(text(f"EXPLAIN {compiled}")))
            assert "Seq Scan" not in plan and "ix_emails_search_trgm" in plan, plan


def test_many_candidates_are_read_from_the_table_with_the_same_results(
    runtime: Runtime, principal: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    _send(runtime, principal, MAIL)
    _assert_same(runtime, principal)
    # Every search with candidates is now "dense" (SQLite reads the table instead).
    monkeypatch.setattr(search, "DENSE_CANDIDATES", 0)
    _assert_same(runtime, principal)
    assert _searched(runtime, principal, "ANA@cliente")[1] == 1
