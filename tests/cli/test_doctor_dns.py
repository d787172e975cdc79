"""`carteiro doctor --dns` checks each account's SPF, DKIM, DMARC and MX against real DNS."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from typer.testing import Result

from carteiro.outbound.dkim import keys as dkim_keys
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dns_server import DnsServer
from carteiro.testing.smtp_server import SmtpSink

Invoke = Callable[..., Result]


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


def row(result: Result, name: str) -> str:
    for line in result.stdout.splitlines():
        if name in line:
            return line
    raise AssertionError(f"no row {name!r} in:\n{result.stdout}")


def test_doctor_dns_good_and_missing_records(
    cli: Invoke, runtime: Runtime, principal: Principal, sink: SmtpSink, dns: DnsServer
) -> None:
    result = cli(
        "accounts", "add", "vendas", "--email", "vendas@example.com", "--host", "127.0.0.1",
        "--port", str(sink.port), "--ca-file", str(sink.cert_path),
        "--username", "alice", "--password", "s3cret",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    env = {"CARTEIRO_DNS_NAMESERVERS": "127.0.0.1", "CARTEIRO_DNS_PORT": str(dns.port)}
    missing = cli("doctor", "--dns", env=env)
    assert "account vendas DNS" in missing.stdout and "warn" in row(missing, "vendas DNS")
    assert "dmarc" in missing.stdout.lower()

    with runtime.db.session() as session:
        key = dkim_keys.generate_key(
            session, tenant_id=principal.tenant_id, domain="example.com", vault=runtime.vault
        )
        record = dkim_keys.dns_record(key)
    dns.txt(record.name, record.value)
    dns.txt("example.com", "v=spf1 ip4:127.0.0.1 -all")
    dns.txt("_dmarc.example.com", "v=DMARC1; p=quarantine; adkim=r; aspf=r")
    dns.add("example.com", "MX", "10 mx.example.com.")
    dns.add("mx.example.com", "A", "127.0.0.1")
    dns.add("127.0.0.1", "A", "127.0.0.1")
    good = cli("doctor", "--dns", env=env)
    assert good.exit_code == 0, good.output
    assert "ok" in row(good, "vendas DNS"), good.stdout
    # Without --dns the stored result of the last check is shown.
    stored = cli("doctor", env=env)
    assert "at the last check" in row(stored, "vendas DNS")
