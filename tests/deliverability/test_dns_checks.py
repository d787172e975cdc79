"""SPF, DKIM, DMARC and MX checks against the local DNS server: good, missing and wrong records."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from mcp.client import Client

from carteiro.accounts import dnscheck
from carteiro.accounts import service as accounts
from carteiro.accounts.dnscheck import KeyInfo
from carteiro.accounts.models import Account
from carteiro.accounts.schemas import AccountCreate, SmtpIn
from carteiro.accounts.spf import check_spf
from carteiro.mail.names import organisational_domain
from carteiro.mail.resolver import DnsResolver
from carteiro.mcp.server import build_server
from carteiro.mcp.toolkit import fixed_principal
from carteiro.outbound.dkim import keys as dkim_keys
from carteiro.outbound.models import DkimKey
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dns_server import DnsServer

DOMAIN = "empresa.com.br"
HOST = "smtp.empresa.com.br"
HOST_IP = "203.0.113.10"


def add_account(
    runtime: Runtime, principal: Principal, *, email: str = f"contato@{DOMAIN}", host: str = HOST
) -> int:
    data = AccountCreate(
        name=email, email=email, smtp=SmtpIn(host=host, username="u", password="p")
    )
    with runtime.db.session() as session:
        return accounts.create(
            session, tenant_id=principal.tenant_id, data=data, vault=runtime.vault
        ).id


def add_key(runtime: Runtime, principal: Principal, domain: str = DOMAIN) -> DkimKey:
    with runtime.db.session() as session:
        return dkim_keys.generate_key(
            session, tenant_id=principal.tenant_id, domain=domain, vault=runtime.vault
        )


def publish_good(
    dns: DnsServer, key: DkimKey | None, *, spf: str = "v=spf1 a:smtp.empresa.com.br -all"
) -> None:
    dns.txt(DOMAIN, spf, "google-site-verification=abc")
    dns.set(HOST, "A", [HOST_IP])
    if key is not None:
        dns.txt(f"carteiro._domainkey.{DOMAIN}", dkim_keys.dns_record(key).value)
    dns.txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=quarantine; rua=mailto:dmarc@empresa.com.br")
    dns.set(DOMAIN, "MX", [f"10 mx.{DOMAIN}."])


def by_name(report) -> dict:  # type: ignore[no-untyped-def]
    return {c.name: c for c in report.checks}


def info(key: DkimKey | None) -> KeyInfo | None:
    return None if key is None else KeyInfo(key.domain, key.selector, key.public_key)


def test_all_good(
    runtime: Runtime, principal: Principal, dns_server: DnsServer, resolver: DnsResolver
) -> None:
    key = add_key(runtime, principal)
    publish_good(dns_server, key)
    report = dnscheck.check_domain(resolver, domain=DOMAIN, smtp_host=HOST, key=info(key))
    checks = by_name(report)
    assert report.status == "ok", [c.message for c in report.checks]
    assert checks["spf"].detail["allowed_by"] == f"covers {HOST_IP}"
    assert checks["dkim"].status == "ok"
    assert checks["dmarc"].detail["policy"] == "quarantine"
    assert "DKIM and SPF" in checks["dmarc"].message
    assert checks["mx"].found == [f"10 mx.{DOMAIN}"]
    names = {r.purpose: r for r in report.records}
    assert names["SPF"].value == "v=spf1 a:smtp.empresa.com.br -all"
    assert names["DKIM"].name == f"carteiro._domainkey.{DOMAIN}"
    assert names["DMARC"].note == "already published"


@pytest.mark.parametrize(
    ("spf", "extra", "allowed_by"),
    [
        ("v=spf1 ip4:203.0.113.0/24 -all", {}, "covers 203.0.113.10"),
        ("v=spf1 mx ~all", {"mx": True}, "covers 203.0.113.10"),
        (
            "v=spf1 include:_spf.empresa.com.br -all",
            {"include": "v=spf1 ip4:203.0.113.10 -all"},
            "covers 203.0.113.10",
        ),
        (
            "v=spf1 redirect=_spf.empresa.com.br",
            {"include": "v=spf1 a:smtp.empresa.com.br -all"},
            "covers 203.0.113.10",
        ),
    ],
)
def test_spf_mechanisms_that_allow_the_host(
    dns_server: DnsServer, resolver: DnsResolver, spf: str, extra: dict, allowed_by: str
) -> None:
    dns_server.txt(DOMAIN, spf)
    dns_server.set(HOST, "A", [HOST_IP])
    if extra.get("mx"):
        dns_server.set(DOMAIN, "MX", [f"10 {HOST}."])
    if "include" in extra:
        dns_server.txt(f"_spf.{DOMAIN}", extra["include"])
    check = check_spf(resolver, domain=DOMAIN, smtp_host=HOST)
    assert check.status == "ok", check.message
    assert check.detail["allowed_by"] == allowed_by


def test_gmail_host_needs_googles_include(dns_server: DnsServer, resolver: DnsResolver) -> None:
    dns_server.txt(DOMAIN, "v=spf1 ip4:198.51.100.7 -all")
    wrong = check_spf(resolver, domain=DOMAIN, smtp_host="smtp.gmail.com")
    assert wrong.status == "error"
    assert wrong.detail["suggested"] == "v=spf1 ip4:198.51.100.7 include:_spf.google.com -all"
    dns_server.txt(DOMAIN, "v=spf1 include:_spf.google.com ~all")
    dns_server.txt("_spf.google.com", "v=spf1 include:_netblocks.google.com ~all")
    good = check_spf(resolver, domain=DOMAIN, smtp_host="smtp.gmail.com")
    assert good.status == "ok" and good.detail["allowed_by"] == "include:_spf.google.com"


def test_provider_include_by_organisational_domain(
    dns_server: DnsServer, resolver: DnsResolver
) -> None:
    dns_server.txt(DOMAIN, "v=spf1 include:_spf.mailhost.net -all")
    check = check_spf(resolver, domain=DOMAIN, smtp_host="smtp.mailhost.net")
    assert check.status == "ok" and check.detail["allowed_by"] == "include:_spf.mailhost.net"


def test_everything_missing(runtime: Runtime, principal: Principal, resolver: DnsResolver) -> None:
    report = dnscheck.check_domain(resolver, domain=DOMAIN, smtp_host=HOST, key=None)
    checks = by_name(report)
    assert report.status == "error"
    assert checks["spf"].status == "error" and "no SPF record" in checks["spf"].message
    assert checks["dkim"].status == "warning"
    assert checks["dmarc"].status == "error"
    assert checks["mx"].status == "warning"
    records = {r.purpose: r.value for r in report.records}
    assert records == {
        "SPF": "v=spf1 a:smtp.empresa.com.br ~all",
        "DMARC": "v=DMARC1; p=none; adkim=r; aspf=r",
    }


def test_wrong_records(
    runtime: Runtime, principal: Principal, dns_server: DnsServer, resolver: DnsResolver
) -> None:
    key = add_key(runtime, principal)
    other = add_key(runtime, principal, domain="outra.com")
    publish_good(dns_server, key)
    dns_server.txt(f"carteiro._domainkey.{DOMAIN}", dkim_keys.dns_record(other).value)
    dns_server.txt(f"_dmarc.{DOMAIN}", "v=DMARC1; rua=mailto:x@empresa.com.br")
    dns_server.txt(DOMAIN, "v=spf1 ip4:198.51.100.1 -all", "v=spf1 a -all")
    report = dnscheck.check_domain(resolver, domain=DOMAIN, smtp_host=HOST, key=info(key))
    checks = by_name(report)
    assert report.status == "error"
    assert "2 SPF records" in checks["spf"].message
    assert checks["dkim"].status == "error" and "different key" in checks["dkim"].message
    assert checks["dmarc"].status == "error" and "no valid policy" in checks["dmarc"].message
    assert {r.purpose: r.value for r in report.records}["DMARC"].endswith("p=none; adkim=r; aspf=r")


@pytest.mark.parametrize(
    ("spf", "status", "words"),
    [
        ("v=spf1 a:smtp.empresa.com.br +all", "warning", "'+all'"),
        ("v=spf1 a:smtp.empresa.com.br", "warning", "no 'all' term"),
        ("v=spf1 a:smtp.empresa.com.br ?all", "warning", "'?all'"),
        ("v=spf1 ip4:198.51.100.1 -all", "error", "does not allow"),
        ("v=spf1 -ip4:203.0.113.10 -all", "error", "does not allow"),
    ],
)
def test_weak_or_excluding_spf(
    dns_server: DnsServer, resolver: DnsResolver, spf: str, status: str, words: str
) -> None:
    dns_server.txt(DOMAIN, spf)
    dns_server.set(HOST, "A", [HOST_IP])
    check = check_spf(resolver, domain=DOMAIN, smtp_host=HOST)
    assert check.status == status and words in check.message


def test_too_many_spf_lookups(dns_server: DnsServer, resolver: DnsResolver) -> None:
    chain = " ".join(f"include:s{i}.{DOMAIN}" for i in range(11))
    dns_server.txt(DOMAIN, f"v=spf1 ip4:{HOST_IP} {chain} -all")
    for i in range(11):
        dns_server.txt(f"s{i}.{DOMAIN}", "v=spf1 ip4:192.0.2.1 -all")
    check = check_spf(resolver, domain=DOMAIN, smtp_host=HOST_IP)
    assert check.status == "error" and "11 DNS look-ups" in check.message


def test_dkim_test_mode_and_revoked_key(
    runtime: Runtime, principal: Principal, dns_server: DnsServer, resolver: DnsResolver
) -> None:
    key = add_key(runtime, principal)
    name = f"carteiro._domainkey.{DOMAIN}"
    dns_server.txt(name, f"v=DKIM1; t=y; k=rsa; p={key.public_key}")
    assert dnscheck.check_dkim(resolver, domain=DOMAIN, key=info(key)).status == "warning"
    dns_server.txt(name, "v=DKIM1; k=rsa; p=")
    assert dnscheck.check_dkim(resolver, domain=DOMAIN, key=info(key)).status == "error"
    # Long keys are published split into 255-byte strings; they are joined before comparing.
    dns_server.txt(name, f"v=DKIM1; k=rsa; p={key.public_key}")
    assert dnscheck.check_dkim(resolver, domain=DOMAIN, key=info(key)).status == "ok"


def test_dmarc_inherited_from_the_organisational_domain(
    dns_server: DnsServer, resolver: DnsResolver
) -> None:
    dns_server.txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=none; sp=reject")
    check = dnscheck.check_dmarc(resolver, domain=f"news.{DOMAIN}", spf_ok=True, dkim_ok=False)
    assert check.status == "ok" and check.detail["policy"] == "reject"
    assert check.detail["record_at"] == f"_dmarc.{DOMAIN}"
    failing = dnscheck.check_dmarc(resolver, domain=DOMAIN, spf_ok=False, dkim_ok=False)
    assert failing.status == "error" and "neither SPF nor DKIM" in failing.message


def test_null_mx(dns_server: DnsServer, resolver: DnsResolver) -> None:
    dns_server.set(DOMAIN, "MX", ["0 ."])
    assert dnscheck.check_mx(resolver, domain=DOMAIN).status == "warning"


def test_provider_domains_are_skipped(resolver: DnsResolver, dns_server: DnsServer) -> None:
    report = dnscheck.check_domain(
        resolver, domain="gmail.com", smtp_host="smtp.gmail.com", key=None
    )
    assert report.status == "ok" and report.records == []
    assert {c.status for c in report.checks} == {"skipped"}
    assert dns_server.queries == []


@pytest.mark.parametrize("mode", ["servfail", "refuse"])
def test_a_failing_resolver_is_an_error_not_a_crash(
    dns_server: DnsServer, resolver: DnsResolver, mode: str
) -> None:
    dns_server.mode = mode  # type: ignore[assignment]
    report = dnscheck.check_domain(resolver, domain=DOMAIN, smtp_host=HOST, key=None)
    checks = by_name(report)
    assert report.status == "error"
    for name in ("spf", "dmarc", "mx"):
        assert checks[name].status == "error"
        assert "DNS look-up failed" in checks[name].message
    assert checks["dkim"].status == "warning"  # no key: nothing to look up


def test_organisational_domain() -> None:
    assert organisational_domain("news.empresa.com.br") == "empresa.com.br"
    assert organisational_domain("empresa.com.br") == "empresa.com.br"
    assert organisational_domain("mail.example.com") == "example.com"
    assert organisational_domain("firma.co.uk") == "firma.co.uk"


# -- GET /accounts/{id}/dns, MCP, CLI ---------------------------------------------------------


def test_endpoint_checks_and_stores_dns_status(
    client: TestClient, runtime: Runtime, principal: Principal, dns_server: DnsServer
) -> None:
    account_id = add_account(runtime, principal)
    assert client.get(f"/accounts/{account_id}/dns", params={"cached": True}).status_code == 404
    missing = client.get(f"/accounts/{account_id}/dns")
    assert missing.status_code == 200, missing.text
    assert missing.json()["status"] == "error"
    with runtime.db.session() as session:
        assert session.get(Account, account_id).dns_status == "error"  # type: ignore[union-attr]

    key = client.post("/dkim/keys", json={"domain": DOMAIN}).json()
    body = missing.json()
    assert body["account_id"] == account_id and body["smtp_host"] == HOST
    with runtime.db.session() as session:
        stored = session.get(DkimKey, key["id"])
    publish_good(dns_server, stored)
    good = client.get(f"/accounts/{account_id}/dns").json()
    assert good["status"] == "ok", good["checks"]
    assert {r["purpose"] for r in good["records"]} == {"SPF", "DKIM", "DMARC"}
    with runtime.db.session() as session:
        assert session.get(Account, account_id).dns_status == "ok"  # type: ignore[union-attr]
    cached = client.get(f"/accounts/{account_id}/dns", params={"cached": True}).json()
    assert cached["status"] == "ok" and cached["checked_at"] == good["checked_at"]


def test_endpoint_unknown_or_foreign_account(
    client: TestClient, runtime: Runtime, principal: Principal, make_key: Callable[..., str]
) -> None:
    account_id = add_account(runtime, principal)
    assert client.get("/accounts/999999/dns").status_code == 404
    assert client.get("/accounts/abc/dns").status_code == 422
    stranger = {"Authorization": f"Bearer {make_key(tenant='outro')}"}
    assert client.get(f"/accounts/{account_id}/dns", headers=stranger).status_code == 404
    no_scope = {"Authorization": f"Bearer {make_key(scopes=['emails:send'])}"}
    assert client.get(f"/accounts/{account_id}/dns", headers=no_scope).status_code == 403


async def test_mcp_check_account_dns(
    runtime: Runtime, principal: Principal, dns_server: DnsServer
) -> None:
    add_account(runtime, principal)
    publish_good(dns_server, None)
    async with Client(build_server(runtime, fixed_principal(principal))) as client:
        result = await client.call_tool("check_account_dns", {"account": f"contato@{DOMAIN}"})
        unknown = await client.call_tool("check_account_dns", {"account": "nope"})
    assert not result.is_error
    assert result.structured_content["status"] == "warning"  # no DKIM key yet
    assert unknown.is_error and "not found" in unknown.content[0].text


def test_cli_check(
    runtime: Runtime, principal: Principal, dns_server: DnsServer, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import typer
    from typer.testing import CliRunner

    from carteiro.cli.common import CarteiroGroup
    from carteiro.cli.dkim import app
    from carteiro.config import get_settings
    from carteiro.mail.resolver import DnsConfig

    account_id = add_account(runtime, principal)
    s = runtime.settings
    env = {
        "CARTEIRO_DATABASE_URL": s.database_url,
        "CARTEIRO_DATA_DIR": str(s.data_dir),
        "CARTEIRO_SECRET_KEY": str(s.secret_key),
        "COLUMNS": "200",
    }
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARTEIRO_API_KEY", raising=False)
    # The CLI reads fresh settings from the environment; point its resolver at the test server.
    local = DnsConfig(dns_nameservers=("127.0.0.1",), dns_port=dns_server.port)
    monkeypatch.setattr("carteiro.cli.dkim.DnsConfig.from_settings", lambda _s: local)
    root = typer.Typer(cls=CarteiroGroup)
    root.add_typer(app, name="dkim")
    runner = CliRunner()
    get_settings.cache_clear()
    try:
        failing = runner.invoke(root, ["dkim", "check", str(account_id)], env=env)
        publish_good(dns_server, None)
        passing = runner.invoke(root, ["dkim", "check", str(account_id)], env=env)
    finally:
        get_settings.cache_clear()
    assert failing.exit_code == 1 and "not ready" in failing.output
    assert "SPF" in failing.output and "v=spf1 a:smtp.empresa.com.br ~all" in failing.output
    assert passing.exit_code == 0, passing.output
    assert "overall: warning" in passing.output
