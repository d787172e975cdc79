"""`carteiro campaigns …` as a user runs it: a real process against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from campkit import BODY, add_leads, campaign, tick

from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

pytestmark = pytest.mark.e2e
SCRIPT = Path(sys.executable).with_name("carteiro")
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(runtime: Runtime, api_key: str, tmp_path: Path) -> Run:
    s = runtime.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARTEIRO_", "EMAIL_"))}
    env.update(
        {
            "CARTEIRO_DATABASE_URL": s.database_url,
            "CARTEIRO_DATA_DIR": str(s.data_dir),
            "CARTEIRO_SECRET_KEY": str(s.secret_key),
            "CARTEIRO_API_KEY": api_key,
        }
    )

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), "campaigns", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return call


def test_campaign_from_the_command_line(
    runtime: Runtime, principal: Principal, run: Run, tmp_path: Path
) -> None:
    add_leads(
        runtime,
        principal.tenant_id,
        [{"nome": "Sol", "email": "ana@sol.com"}, {"nome": "Lua", "email": "bia@lua.com"}],
    )
    definition = tmp_path / "segment.json"
    definition.write_text(
        json.dumps(
            {
                "kind": "rules",
                "rule": {"type": "field", "field": "company", "op": "contains", "value": "sol"},
            }
        )
    )
    got = run("segment-preview", str(definition))
    assert got.returncode == 0, got.stderr
    assert "1 lead(s), 1 address(es)" in got.stdout
    spec = tmp_path / "campaign.json"
    spec.write_text(
        json.dumps(
            {
                "name": "CLI",
                "audience": {"kind": "static", "lead_ids": [1, 2]},
                "variants": [{"subject": "Oi {{ nome }}", "content": BODY}],
            }
        )
    )
    created = run("create", str(spec))
    assert created.returncode == 0, created.stderr
    assert "campaign 1 'CLI': draft" in created.stdout
    lint = run("lint", "1")
    assert lint.returncode == 0 and "audience 2" in lint.stdout and "ok" in lint.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "variants": []}))
    refused = run("create", str(bad))
    assert refused.returncode != 0 and "variants" in (refused.stderr + refused.stdout)
    assert run("schedule", "1", "--now").returncode == 0
    tick(runtime)
    assert campaign(runtime, 1).status == "sending"
    stats = run("stats", "1")
    assert stats.returncode == 0 and "sending" in stats.stdout
    export = tmp_path / "out.csv"
    assert run("recipients", "1", "--csv", str(export)).returncode == 0
    assert len(export.read_text().splitlines()) == 3
    paused = run("pause", "1")
    assert paused.returncode == 0 and "paused" in paused.stdout
    again = run("pause", "1")
    assert again.returncode != 0 and "is paused" in (again.stderr + again.stdout)
    assert "cancelled" in run("cancel", "1").stdout
