"""`carteiro keys`: agent defaults without admin, subsets under CARTEIRO_API_KEY, --own-only."""

from __future__ import annotations

import re
from collections.abc import Callable

from typer.testing import Result

from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy

Invoke = Callable[..., Result]
KEY_LINE = re.compile(r"^API key: (ct_\S+)$", re.MULTILINE)


def make(cli: Invoke, *args: str, env: dict | None = None) -> str:
    result = cli("keys", "create", *args, env=env)
    assert result.exit_code == 0, result.output
    return KEY_LINE.findall(result.stdout)[0]


def test_an_agent_key_gets_send_and_read_and_cannot_mint_keys(
    cli: Invoke, runtime: Runtime, api_key: str
) -> None:
    agent = make(cli, "--name", "agent", "--allow", "*@example.com", "--review")
    principal = runtime.authenticate(agent)
    assert principal.scopes == ("emails:send", "emails:read")
    assert not principal.has("admin") and principal.own_messages_only

    minted = cli("keys", "create", "--name", "wide", env={"CARTEIRO_API_KEY": agent})
    assert minted.exit_code == 1
    assert minted.stderr.strip() == "error: this API key lacks the 'admin' scope"
    assert "API key" not in minted.stdout


def test_a_restricted_admin_key_creates_and_revokes_only_subsets(
    cli: Invoke, runtime: Runtime, api_key: str
) -> None:
    boss = make(cli, "--name", "boss", "--scope", "*", "--allow", "*@example.com", "--review")
    env = {"CARTEIRO_API_KEY": boss}
    wider = cli("keys", "create", "--name", "wider", "--allow", "*@example.com", env=env)
    assert wider.exit_code == 1
    assert wider.stderr.startswith("error: this API key cannot create a key that may reach mail")
    assert len(wider.stderr.strip().splitlines()) == 1
    child = make(cli, "--name", "child", "--allow", "ana@example.com", "--review", env=env)
    child_id = runtime.authenticate(child).key_id

    first_id = runtime.authenticate(api_key).key_id
    refused = cli("keys", "revoke", str(first_id), env=env)
    assert refused.exit_code == 1 and "cannot revoke" in refused.stderr
    runtime.authenticate(api_key)
    assert cli("keys", "revoke", str(child_id), env=env).exit_code == 0


def test_own_only_and_last_use_are_shown(cli: Invoke, runtime: Runtime, api_key: str) -> None:
    plain = make(cli, "--name", "reporter", "--own-only")
    assert runtime.authenticate(plain).own_messages_only
    listed = cli("keys", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if "reporter" in line)
    assert "own only" in row
    tenant_id = runtime.authenticate(plain).tenant_id
    with runtime.db.session() as session:
        used = {k.name: k.last_used_at for k in tenancy.list_keys(session, tenant_id=tenant_id)}
    stamp = used["reporter"]
    assert stamp is not None
    assert stamp.strftime("%Y-%m-%d %H:%M") in row
