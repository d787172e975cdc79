"""Lifecycle: compare-and-set transitions, 409 naming the current status, review mode, lint."""

from __future__ import annotations

import dataclasses

import pytest
from campkit import BODY, add_leads, campaign, make_campaign, schedule, tick

from carteiro.campaigns import lifecycle, service
from carteiro.campaigns.models import Campaign
from carteiro.errors import Conflict, Forbidden, InvalidInput
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal


@pytest.fixture
def audience(runtime: Runtime, principal: Principal) -> list[int]:
    return add_leads(
        runtime,
        principal.tenant_id,
        [{"nome": "Sol", "email": "a@sol.com"}, {"email": "b@lua.com"}],
    )


def test_refusals_name_the_current_status(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    cid = make_campaign(runtime, principal)
    with runtime.db.session() as session, pytest.raises(Conflict) as err:
        service.pause(session, principal=principal, campaign_id=cid)
    assert "is draft" in err.value.message and err.value.field == "status"
    schedule(runtime, principal, cid)
    with pytest.raises(Conflict, match="is scheduled"):
        schedule(runtime, principal, cid)
    with runtime.db.session() as session:
        service.cancel(session, principal=principal, campaign_id=cid)
    for verb in ("resume", "cancel", "pause"):
        with runtime.db.session() as session, pytest.raises(Conflict, match="is cancelled"):
            getattr(service, verb)(session, principal=principal, campaign_id=cid)


def test_compare_and_set_lets_one_of_two_writers_win(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    """Two workers read the same scheduled campaign; the second one's UPDATE finds the status
    changed under it and is refused (no lock held between the read and the write)."""
    cid = make_campaign(runtime, principal)
    schedule(runtime, principal, cid)
    with runtime.db.session() as session:
        stale = session.get_one(Campaign, cid)
    with runtime.db.session() as session:
        lifecycle.transition(session, session.get_one(Campaign, cid), "prepare")
    with runtime.db.session() as session:
        stale = session.merge(stale, load=False)
        assert stale.status == "scheduled"  # what the second worker believes
        with pytest.raises(Conflict, match="is preparing"):
            lifecycle.transition(session, stale, "prepare")
    assert campaign(runtime, cid).version == 3  # created 1, scheduled 2, prepared 3


def test_review_mode_key_waits_for_a_person(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    agent = dataclasses.replace(principal, review_mode=True, key_name="agent")
    cid = make_campaign(runtime, agent)
    schedule(runtime, agent, cid)
    assert campaign(runtime, cid).status == "awaiting_approval"
    tick(runtime)
    assert campaign(runtime, cid).status == "awaiting_approval"  # the planner does not send it
    with runtime.db.session() as session, pytest.raises(Forbidden):
        service.approve(session, principal=agent, campaign_id=cid)
    with runtime.db.session() as session:
        service.approve(session, principal=principal, campaign_id=cid)
    c = campaign(runtime, cid)
    assert c.status == "scheduled" and c.approved_by == principal.key_name


def test_lint_blocks_scheduling_and_names_what_to_fix(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    cid = make_campaign(
        runtime,
        principal,
        variants=[{"subject": "Oi {{ contato_nome }}", "content": "<p>{{ cupom }}</p>"}],
    )
    with runtime.db.session() as session:
        report = service.run_lint(
            session, principal=principal, campaign_id=cid, settings=runtime.settings
        )
    codes = sorted(e.code for e in report.errors)
    assert codes == ["unknown_variable", "unsubscribe"], report.errors
    assert report.warnings[0].code == "capture"
    with pytest.raises(Conflict, match="pre-flight"):
        schedule(runtime, principal, cid)
    with runtime.db.session() as session:
        service.update(
            session,
            principal=principal,
            campaign_id=cid,
            data=service.CampaignUpdate.model_validate(
                {
                    "variables": {"cupom": "X1"},
                    "variants": [
                        {"subject": "Oi {{ contato_nome }}", "content": BODY + "{{ cupom }}"}
                    ],
                }
            ),
        )
        report = service.run_lint(
            session, principal=principal, campaign_id=cid, settings=runtime.settings
        )
    # Both leads lack contato_nome and the subject has no default: all recipients fail.
    assert [e.code for e in report.errors] == ["missing_variable"]
    assert "2 recipient(s) have no contato_nome" in report.errors[0].message
    assert report.audience == 2


def test_bad_input_names_the_field(runtime: Runtime, principal: Principal) -> None:
    bad = [
        ({"schedule": {"mode": "at"}}, "schedule.send_at"),
        (
            {"schedule": {"mode": "local", "window_start": "18:00", "window_end": "09:00"}},
            "schedule.window_end",
        ),
        ({"schedule": {"default_tz": "Lua/Base"}}, "schedule.default_tz"),
        ({"ab": {"enabled": True}}, "ab.enabled"),
        ({"variants": [{"subject": "s", "content": "x", "format": "mjml"}]}, "variants[0].content"),
        (
            {"audience": {"kind": "rules", "rule": {"type": "field", "field": "cpf"}}},
            "audience.rule.field",
        ),
    ]
    for fields, field in bad:
        with pytest.raises(InvalidInput) as err:
            make_campaign(runtime, principal, **fields)
        assert err.value.field == field, (fields, err.value.message)


def test_readme_example_is_valid_json_for_the_api() -> None:
    import json
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```json\nPOST /campaigns\n(.*?)```", readme, re.S)
    assert block is not None
    data = service.CampaignCreate.model_validate(json.loads(block.group(1)))
    assert data.ab.enabled and data.schedule.mode == "local" and len(data.variants) == 2


def test_a_sender_no_account_matches_pauses_instead_of_failing_every_round(
    runtime: Runtime, principal: Principal, audience: list[int]
) -> None:
    cid = make_campaign(runtime, principal, from_email="@ninguem.com")
    with runtime.db.session() as session:
        report = service.run_lint(
            session, principal=principal, campaign_id=cid, settings=runtime.settings
        )
    assert [e.code for e in report.errors] == ["sender"]
    with runtime.db.session() as session:  # scheduled anyway (as if the account was removed)
        lifecycle.transition(session, session.get_one(Campaign, cid), "schedule")
    tick(runtime)
    c = campaign(runtime, cid)
    assert c.status == "paused" and "no active account sends as '@ninguem.com'" in (
        c.status_reason or ""
    )
