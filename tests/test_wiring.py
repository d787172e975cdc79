"""The composition root: every process reacts to other domains' events through one explicit list."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import carteiro
from carteiro import wiring
from carteiro.cli import common
from carteiro.config import Settings
from carteiro.events.bus import Bounced, Bus
from carteiro.leads.suppression import is_suppressed
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy

ROOT = Path(carteiro.__file__).parent


def _hard_bounce_suppresses(runtime: Runtime) -> dict[str, str]:
    with runtime.db.session() as session:
        tenant, _ = tenancy.ensure_default_tenant(session)
        event = Bounced(tenant_id=tenant.id, address="nobody@cliente.com.br", kind="hard")
        runtime.bus.publish(session, event)
    with runtime.db.session() as session:
        return is_suppressed(session, tenant_id=tenant.id, addresses=["nobody@cliente.com.br"])


def test_a_hard_bounce_published_on_the_cli_runtime_suppresses_the_address(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "load_settings", lambda: settings)
    with common.open_runtime() as cli_runtime:
        assert _hard_bounce_suppresses(cli_runtime) == {"nobody@cliente.com.br": "hard_bounce"}


def test_a_bus_without_the_subscription_changes_nothing(runtime: Runtime) -> None:
    # The reaction comes from the wiring, not from importing the module that reacts.
    runtime.bus = Bus()
    assert _hard_bounce_suppresses(runtime) == {}
    runtime.bus = wiring.bus()
    assert _hard_bounce_suppresses(runtime) == {"nobody@cliente.com.br": "hard_bounce"}


def test_only_the_composition_root_builds_a_runtime() -> None:
    callers = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "from_settings"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "Runtime"
            ):
                callers.append(path.relative_to(ROOT).as_posix())
    assert callers == ["wiring.py"]
