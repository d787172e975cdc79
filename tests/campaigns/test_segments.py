"""Segments: AND/OR trees over lead data compiled by the service, preview, static lists."""

from __future__ import annotations

from typing import Any

import pytest
from campkit import add_leads
from pydantic import TypeAdapter, ValidationError

from carteiro.campaigns import catalog, segments
from carteiro.campaigns.schemas import SegmentCreate
from carteiro.db.types import utcnow
from carteiro.errors import Conflict, InvalidInput
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

DEF: TypeAdapter[Any] = TypeAdapter(segments.Definition)


@pytest.fixture
def leads(runtime: Runtime, principal: Principal) -> list[int]:
    return add_leads(
        runtime,
        principal.tenant_id,
        [
            {"nome": "Padaria Sol", "status": "novo", "tags": ["vip"], "email": "sol@a.com"},
            {
                "nome": "Mercado Lua",
                "status": "novo",
                "tags": [],
                "email": ["lua@a.com", "x@a.com"],
            },
            {
                "nome": "Oficina Mar",
                "status": "contatado",
                "tags": ["vip"],
                "email": "mar@a.com",
                "consent": "opt_in",
            },
            {"nome": "Sem Email", "status": "novo", "tags": ["vip"]},
        ],
    )


def preview(runtime: Runtime, principal: Principal, definition: dict[str, Any]) -> Any:
    with runtime.db.session() as session:
        return catalog.preview(
            session, tenant_id=principal.tenant_id, definition=DEF.validate_python(definition)
        )


def test_and_or_tree_over_fields_tags_and_consent(
    runtime: Runtime, principal: Principal, leads: list[int]
) -> None:
    vip_or_lua = {
        "kind": "rules",
        "rule": {
            "type": "or",
            "rules": [
                {
                    "type": "and",
                    "rules": [
                        {"type": "tag", "tag": "vip"},
                        {"type": "field", "field": "status", "value": "novo"},
                    ],
                },
                {"type": "field", "field": "company", "op": "contains", "value": "lua"},
            ],
        },
    }
    got = preview(runtime, principal, vip_or_lua)
    assert (got.leads, got.addresses) == (3, 3)
    assert [s.nome for s in got.sample] == ["Padaria Sol", "Mercado Lua", "Sem Email"]
    consented = preview(
        runtime, principal, {"kind": "rules", "rule": {"type": "consent", "value": "opt_in"}}
    )
    assert [s.nome for s in consented.sample] == ["Oficina Mar"]
    not_vip = preview(
        runtime,
        principal,
        {"kind": "rules", "rule": {"type": "tag", "tag": "vip", "present": False}},
    )
    assert [s.nome for s in not_vip.sample] == ["Mercado Lua"]


def test_static_list_ignores_unknown_ids(
    runtime: Runtime, principal: Principal, leads: list[int]
) -> None:
    got = preview(runtime, principal, {"kind": "static", "lead_ids": [leads[0], leads[2], 999999]})
    assert got.leads == 2


def test_unknown_field_and_bad_values_name_the_field(
    runtime: Runtime, principal: Principal, leads: list[int]
) -> None:
    tree = {
        "kind": "rules",
        "rule": {
            "type": "and",
            "rules": [
                {"type": "tag", "tag": "vip"},
                {"type": "field", "field": "senha", "value": "x"},
            ],
        },
    }
    with pytest.raises(InvalidInput) as err:
        preview(runtime, principal, tree)
    assert err.value.field == "definition.rule.rules[1].field"
    assert "unknown field 'senha'" in err.value.message
    with pytest.raises(InvalidInput) as err:
        preview(
            runtime,
            principal,
            {
                "kind": "rules",
                "rule": {"type": "field", "field": "status", "op": "in", "value": "novo"},
            },
        )
    assert err.value.field == "definition.rule.value"
    with pytest.raises(ValidationError):
        DEF.validate_python({"kind": "rules", "rule": {"type": "sql", "query": "DROP TABLE"}})


def test_saved_segments_have_unique_names(runtime: Runtime, principal: Principal) -> None:
    data = SegmentCreate.model_validate(
        {"name": "VIP", "definition": {"kind": "rules", "rule": {"type": "tag", "tag": "vip"}}}
    )
    with runtime.db.session() as session:
        catalog.create_segment(session, tenant_id=principal.tenant_id, data=data)
    with runtime.db.session() as session, pytest.raises(Conflict):
        catalog.create_segment(session, tenant_id=principal.tenant_id, data=data)


def test_an_unparsed_definition_raises_instead_of_selecting_everyone(runtime: Runtime) -> None:
    """A definition that skipped validation must not fall through to "every lead"."""
    with runtime.db.session() as session, pytest.raises(TypeError, match="parsed segment"):
        segments.where(
            session,
            tenant_id=1,
            definition={"kind": "rules", "rule": {"type": "tag", "tag": "vip"}},
            now=utcnow(),
        )
