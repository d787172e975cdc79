"""DKIM keys and signing, verified by dkimpy against the local DNS server (never the internet)."""

from __future__ import annotations

import base64
import email
import email.policy

import dkim
import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key
from fastapi.testclient import TestClient
from sqlalchemy import select

from carteiro.config import Settings
from carteiro.errors import Conflict, InvalidInput
from carteiro.leads import unsubscribe
from carteiro.mail.compose import compose_message, make_message_id
from carteiro.mail.dkim import DkimSigner
from carteiro.mail.resolver import DnsResolver, dkim_dnsfunc
from carteiro.mail.transports.smtp import SmtpConfig, SmtpTransport
from carteiro.outbound.dkim import keys as dkim_keys
from carteiro.outbound.dkim import signers as dkim_signers
from carteiro.outbound.models import DkimKey
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.dns_server import DnsServer
from carteiro.testing.smtp_server import SmtpSink

DOMAIN = "empresa.com.br"


def make_key(runtime: Runtime, principal: Principal, **kwargs: object) -> DkimKey:
    with runtime.db.session() as session:
        return dkim_keys.generate_key(
            session,
            tenant_id=principal.tenant_id,
            domain=kwargs.pop("domain", DOMAIN),  # type: ignore[arg-type]
            vault=runtime.vault,
            **kwargs,  # type: ignore[arg-type]
        )


def publish(dns_server: DnsServer, key: DkimKey) -> None:
    record = dkim_keys.dns_record(key)
    dns_server.txt(record.name, record.value)


def bulk_message(settings: Settings, *, to: str = "cliente@example.org") -> bytes:
    headers = unsubscribe.list_unsubscribe_headers(
        settings, tenant_id=1, address=to, email_id=42, mailto=f"sair@{DOMAIN}"
    )
    return compose_message(
        from_addr=f"contato@{DOMAIN}",
        from_name="Equipe Empresa",
        to=[to],
        cc=["copia@example.org"],
        subject="Novidades de março — promoção",
        text="Olá!\n\nConfira as novidades.\n.\nUma linha que começa com ponto.\n",
        html="<p>Olá! <b>Confira</b></p>",
        reply_to=[f"respostas@{DOMAIN}"],
        headers=headers,
        message_id=make_message_id(DOMAIN),
    )


def test_generated_key_is_2048_bit_rsa_stored_encrypted(
    runtime: Runtime, principal: Principal
) -> None:
    key = make_key(runtime, principal)
    public = load_der_public_key(base64.b64decode(key.public_key))
    assert public.key_size == 2048  # type: ignore[union-attr]
    assert "PRIVATE KEY" not in key.private_key_enc
    assert "PRIVATE KEY" in runtime.vault.decrypt(key.private_key_enc)
    record = dkim_keys.dns_record(key)
    assert record.name == f"carteiro._domainkey.{DOMAIN}"
    assert record.value == f"v=DKIM1; k=rsa; p={key.public_key}"


def test_one_key_per_selector_and_rotation(runtime: Runtime, principal: Principal) -> None:
    first = make_key(runtime, principal)
    with pytest.raises(Conflict):
        make_key(runtime, principal)
    second = make_key(runtime, principal, selector="s2026")
    with runtime.db.session() as session:
        active = dkim_keys.active_key(session, tenant_id=principal.tenant_id, domain=DOMAIN)
        same = dkim_keys.ensure_key(
            session, tenant_id=principal.tenant_id, domain=DOMAIN, vault=runtime.vault
        )
    assert active is not None and active.id == second.id != first.id
    assert same.id == second.id
    replaced = make_key(runtime, principal, selector="s2026", replace=True)
    assert replaced.id == second.id and replaced.public_key != second.public_key


@pytest.mark.parametrize(
    ("domain", "selector", "field"),
    [
        ("not a domain", "carteiro", "domain"),
        ("localhost", "carteiro", "domain"),
        ("example.123", "carteiro", "domain"),
        ("example.com", "bad selector", "selector"),
        ("example.com", "-x", "selector"),
    ],
)
def test_bad_domain_or_selector(
    runtime: Runtime, principal: Principal, domain: str, selector: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        make_key(runtime, principal, domain=domain, selector=selector)
    assert raised.value.field == field
    with runtime.db.session() as session:
        assert session.scalar(select(DkimKey.id)) is None


def test_signature_verifies_through_the_local_dns_server(
    runtime: Runtime, principal: Principal, dns_server: DnsServer, resolver: DnsResolver
) -> None:
    key = make_key(runtime, principal)
    publish(dns_server, key)
    with runtime.db.session() as session:
        signer = dkim_signers.for_domain(
            session, tenant_id=principal.tenant_id, domain=DOMAIN, vault=runtime.vault
        )
    assert signer is not None
    signed = signer.sign(bulk_message(runtime.settings))

    assert dkim.verify(signed, dnsfunc=dkim_dnsfunc(resolver))
    assert any(q.name == f"carteiro._domainkey.{DOMAIN}." for q in dns_server.queries)
    header = email.message_from_bytes(signed, policy=email.policy.SMTP)["DKIM-Signature"]
    tags = {k.strip(): v.strip() for k, _, v in (t.partition("=") for t in str(header).split(";"))}
    assert tags["c"] == "relaxed/relaxed" and tags["a"] == "rsa-sha256"
    assert tags["d"] == DOMAIN and tags["s"] == "carteiro"
    signed_headers = [h.strip() for h in "".join(tags["h"].split()).split(":")]
    for name in ("from", "to", "cc", "subject", "date", "message-id", "reply-to"):
        assert name in signed_headers
    for name in ("mime-version", "content-type", "list-unsubscribe", "list-unsubscribe-post"):
        assert name in signed_headers
    assert signed_headers.count("from") == 2  # a second From cannot be added


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: no"),
        (b"<mailto:sair@", b"<mailto:evil@"),
        (b"Subject: Novidades", b"Subject: Novidadez"),
    ],
)
def test_tampering_breaks_the_signature(
    runtime: Runtime,
    principal: Principal,
    dns_server: DnsServer,
    resolver: DnsResolver,
    old: bytes,
    new: bytes,
) -> None:
    key = make_key(runtime, principal)
    publish(dns_server, key)
    signer = dkim_signers.from_key(key, vault=runtime.vault)
    signed = signer.sign(bulk_message(runtime.settings))
    assert old in signed
    assert not dkim.verify(signed.replace(old, new, 1), dnsfunc=dkim_dnsfunc(resolver))


def test_body_change_and_wrong_or_missing_record_fail(
    runtime: Runtime, principal: Principal, dns_server: DnsServer, resolver: DnsResolver
) -> None:
    key = make_key(runtime, principal)
    signer = dkim_signers.from_key(key, vault=runtime.vault)
    signed = signer.sign(bulk_message(runtime.settings))
    dnsfunc = dkim_dnsfunc(resolver)
    assert not dkim.verify(signed, dnsfunc=dnsfunc)  # nothing published yet
    other = make_key(runtime, principal, selector="other")
    dns_server.txt(f"carteiro._domainkey.{DOMAIN}", dkim_keys.dns_record(other).value)
    assert not dkim.verify(signed, dnsfunc=dnsfunc)  # a different key
    publish(dns_server, key)
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    assert not dkim.verify(
        signed.replace(b"Confira as novidades", b"Confira as ofertas"), dnsfunc=dnsfunc
    )


def test_signer_needs_a_from_header() -> None:
    private_pem = dkim_keys._new_pair(1024)[0]
    signer = DkimSigner.from_pem(domain=DOMAIN, selector="s", private_pem=private_pem)
    with pytest.raises(ValueError, match="From"):
        signer.sign(b"To: a@example.com\r\nSubject: x\r\n\r\nbody\r\n")


def test_no_key_means_no_signer_and_keys_are_cached(runtime: Runtime, principal: Principal) -> None:
    with runtime.db.session() as session:
        assert (
            dkim_signers.for_domain(
                session, tenant_id=principal.tenant_id, domain=DOMAIN, vault=runtime.vault
            )
            is None
        )
    key = make_key(runtime, principal)
    a = dkim_signers.from_key(key, vault=runtime.vault)
    b = dkim_signers.from_key(key, vault=runtime.vault)
    assert a._key is b._key


def test_compose_keeps_list_unsubscribe_headers_exactly(runtime: Runtime) -> None:
    headers = unsubscribe.list_unsubscribe_headers(
        runtime.settings, tenant_id=1, address="a@example.org", mailto=f"sair@{DOMAIN}"
    )
    raw = bulk_message(runtime.settings, to="a@example.org")
    parsed = email.message_from_bytes(raw, policy=email.policy.SMTP)
    value = " ".join(str(parsed["List-Unsubscribe"]).split())
    assert value.startswith(f"<mailto:sair@{DOMAIN}?subject=unsubscribe>, <https://")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].split(", <https://")[0] in value
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


async def test_signature_survives_real_smtp_delivery(
    runtime: Runtime,
    principal: Principal,
    dns_server: DnsServer,
    resolver: DnsResolver,
    sink: SmtpSink,
) -> None:
    key = make_key(runtime, principal)
    publish(dns_server, key)
    signed = dkim_signers.from_key(key, vault=runtime.vault).sign(bulk_message(runtime.settings))
    transport = SmtpTransport(
        SmtpConfig(
            host=sink.hostname,
            port=sink.port,
            username="user",
            password="secret",
            ca_file=str(sink.cert_path),
            timeout=5,
        )
    )
    try:
        await transport.send(
            sender=f"contato@{DOMAIN}", recipients=["cliente@example.org"], raw=signed
        )
    finally:
        await transport.close()
    (received,) = sink.messages
    assert dkim.verify(received.data, dnsfunc=dkim_dnsfunc(resolver))


# -- REST API and CLI --------------------------------------------------------------------------


def test_api_keys(client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/dkim/keys", json={"domain": "Empresa.COM.br"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["domain"] == DOMAIN and body["selector"] == "carteiro" and body["bits"] == 2048
    assert body["record"]["name"] == f"carteiro._domainkey.{DOMAIN}"
    assert body["record"]["value"].startswith("v=DKIM1; k=rsa; p=")
    assert "private" not in created.text.lower()

    assert client.post("/dkim/keys", json={"domain": DOMAIN}).status_code == 409
    bad = client.post("/dkim/keys", json={"domain": "no such thing"})
    assert bad.status_code == 422 and bad.json()["field"] == "domain"
    assert [k["id"] for k in client.get("/dkim/keys").json()] == [body["id"]]
    assert client.get("/dkim/keys", params={"domain": "other.com"}).json() == []

    stranger = {"Authorization": f"Bearer {make_key(tenant='outro')}"}
    assert client.delete(f"/dkim/keys/{body['id']}", headers=stranger).status_code == 404
    assert client.delete(f"/dkim/keys/{body['id']}").status_code == 204
    assert client.get("/dkim/keys").json() == []


def test_cli_generate_list_show_remove(
    runtime: Runtime, api_key: str, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from carteiro.cli.dkim import app
    from carteiro.config import get_settings

    s = runtime.settings
    env = {
        "CARTEIRO_DATABASE_URL": s.database_url,
        "CARTEIRO_DATA_DIR": str(s.data_dir),
        "CARTEIRO_SECRET_KEY": str(s.secret_key),
        "COLUMNS": "200",
    }
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARTEIRO_API_KEY", raising=False)
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        try:
            return runner.invoke(app, list(args), env=env)
        finally:
            get_settings.cache_clear()

    generated = run("generate", DOMAIN)
    assert generated.exit_code == 0, generated.output
    assert f"carteiro._domainkey.{DOMAIN}" in generated.output
    assert "v=DKIM1; k=rsa; p=" in generated.output
    assert run("generate", DOMAIN).exit_code != 0
    assert DOMAIN in run("list").output
    shown = run("show", DOMAIN)
    assert shown.exit_code == 0 and "TXT" in shown.output
    assert run("show", "other.com").exit_code != 0
    with runtime.db.session() as session:
        key_id = session.scalar(select(DkimKey.id))
    assert run("remove", str(key_id), "--yes").exit_code == 0
    assert "no DKIM keys" in run("list").output


BODIES = [
    b"",
    b"\r\n",
    b"\r\n\r\n\r\n",
    b"plain line\r\n",
    b"no final newline",
    b"trailing spaces   \r\nand tabs\t\t\r\n",
    b"inner  double   spaces\tand\t tabs\r\n\r\n\r\n",
    b"ends with a space \r\n ",
    b"bare\nline feeds\nmixed\r\nin\r\n",
    b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n" * 50,
    b"lone \r carriage return\r\n",
]


@pytest.mark.parametrize("body", BODIES)
def test_fast_paths_equal_dkimpy(body: bytes) -> None:
    from dkim.canonicalization import Relaxed

    from carteiro.mail.dkim import _parse, _relaxed_body

    assert _relaxed_body(body) == Relaxed.canonicalize_body(body)
    for raw in (b"From: a@example.com\r\nSubject: x\r\n\r\n" + body, b"From: a@example.com\r\n"):
        assert _parse(raw) == dkim.rfc822_parse(raw)
