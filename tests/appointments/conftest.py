"""Appointment fixtures: the real app over the test database, leads with and without e-mail."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.leads.models import Lead, LeadEmail, LeadTelefone
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal


@pytest.fixture
def client(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


@pytest.fixture
def make_lead(runtime: Runtime, principal: Principal) -> Callable[..., int]:
    """Creates a lead of the default tenant (or `tenant_id`); returns its id."""

    def make(
        nome: str = "Padaria Pão Quente",
        email: str | None = "maria@example.com",
        telefone: str | None = "+5511987654321",
        tenant_id: int | None = None,
    ) -> int:
        tenant = tenant_id or principal.tenant_id
        with runtime.db.session() as session:
            lead = Lead(
                tenant_id=tenant,
                lead_id_externo=f"ext-{nome}-{email}",
                nome=nome,
                contato_nome="Maria Silva",
            )
            session.add(lead)
            session.flush()
            if email:
                session.add(
                    LeadEmail(
                        lead_id=lead.lead_id, tenant_id=tenant, email=email, email_principal=True
                    )
                )
            if telefone:
                session.add(
                    LeadTelefone(
                        lead_id=lead.lead_id,
                        tenant_id=tenant,
                        telefone=telefone,
                        telefone_principal=True,
                        tipo="mobile",
                    )
                )
            return lead.lead_id

    return make


@pytest.fixture
def lead_id(make_lead: Callable[..., int]) -> int:
    return make_lead()


@pytest.fixture
def other_tenant(runtime: Runtime, api_key: str) -> tuple[Principal, str]:
    with runtime.db.session() as session:
        tenant = tenancy.create_tenant(session, slug="other")
        _, plain = tenancy.create_key(session, tenant_id=tenant.id, name="other")
    return runtime.authenticate(plain), plain
