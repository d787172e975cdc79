"""Accounts over the API: composable senders, CA files, internal hosts, login tests that say
which step failed but never what the remote server said."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_accounts_api import account_body

from carteiro.api.app import create_app
from carteiro.runtime import Runtime
from carteiro.testing.certs import make_self_signed_cert
from carteiro.testing.smtp_server import SmtpSink

MakeKey = Callable[..., str]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"display_name": "Vendas\x00"}, "display_name"),
        ({"display_name": "Vendas\u2028Bcc: x@example.com"}, "display_name"),
        ({"display_name": "Vendas\x85"}, "display_name"),
        ({"email": "joão@example.com"}, "email"),
    ],
)
def test_accounts_the_composer_cannot_use_are_refused(
    client: TestClient, sink: SmtpSink, overrides: dict, field: str
) -> None:
    r = client.post("/accounts", json=account_body(sink, **overrides))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    created = client.post("/accounts", json=account_body(sink)).json()
    r = client.patch(f"/accounts/{created['id']}", json=overrides)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert client.get(f"/accounts/{created['id']}").json()["email"] == "vendas@example.com"
    client.delete(f"/accounts/{created['id']}")


def test_ca_file_must_be_a_pem_ca_bundle(
    client: TestClient, sink: SmtpSink, tmp_path: Path
) -> None:
    key = sink.key_path
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    unreadable = tmp_path / "unreadable.pem"
    unreadable.write_bytes(sink.cert_path.read_bytes())
    unreadable.chmod(0)
    leaf = _leaf_signed_by_a_ca(tmp_path)
    bad = [str(key), str(garbage), str(leaf), str(tmp_path / "missing.pem"), str(tmp_path)]
    if os.geteuid() != 0:  # root reads it anyway
        bad.append(str(unreadable))
    messages = set()
    for path in bad:
        for section in ("smtp", "imap"):
            body = account_body(sink)
            if section == "smtp":
                body["smtp"] = {**body["smtp"], "ca_file": path}
            else:
                body["imap"] = {"host": sink.hostname, "ca_file": path}
            r = client.post("/accounts", json=body)
            assert r.status_code == 422, (path, r.text)
            assert r.json()["field"] == f"{section}.ca_file"
            messages.add(r.json()["message"].removeprefix(section))
            assert path not in r.text
    # The same sentence whatever is wrong: no telling which paths exist.
    assert messages == {".ca_file: must be a readable PEM file of CA certificates"}
    assert client.get("/accounts").json() == []
    ok = client.post("/accounts", json=account_body(sink))
    assert ok.status_code == 201, ok.text


def _leaf_signed_by_a_ca(directory: Path) -> Path:
    """A server certificate issued by a CA: not something to trust on its own."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_cert, ca_key_path = make_self_signed_cert(directory / "ca")
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.com")]))
        .issuer_name(x509.load_pem_x509_certificate(ca_cert.read_bytes()).subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    path = directory / "leaf.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def banner_server() -> Iterator[int]:
    """A TCP service that greets with a secret-looking banner and refuses everything."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"554 internal-db-7 SECRET-BANNER build 1.2.3\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_login_test_never_echoes_the_server(
    client: TestClient, sink: SmtpSink, banner_server: int
) -> None:
    body = account_body(sink, name="banner")
    body["smtp"] = {"host": "127.0.0.1", "port": banner_server, "security": "none"}
    created = client.post("/accounts", json=body).json()
    r = client.post(f"/accounts/{created['id']}/test")
    assert r.status_code == 200 and r.json()["ok"] is False
    assert "SECRET-BANNER" not in r.text and "internal-db-7" not in r.text
    assert r.json()["detail"] == "could not open an SMTP session (check host, port and security)"

    wrong = account_body(sink, name="wrong")
    wrong["smtp"] = {**wrong["smtp"], "password": "nope"}
    created = client.post("/accounts", json=wrong).json()
    r = client.post(f"/accounts/{created['id']}/test")
    assert r.json()["error_type"] == "auth" and "535" not in r.text
    assert r.json()["detail"].startswith("connected, but the server refused the login")


def test_login_test_and_sync_need_accounts_write(
    client: TestClient, sink: SmtpSink, make_key: MakeKey
) -> None:
    created = client.post("/accounts", json=account_body(sink)).json()
    reader = {"Authorization": f"Bearer {make_key(scopes=['accounts:read', 'inbox:write'])}"}
    assert client.get(f"/accounts/{created['id']}", headers=reader).status_code == 200
    r = client.post(f"/accounts/{created['id']}/test", headers=reader)
    assert r.status_code == 403 and "accounts:write" in r.json()["message"]
    r = client.post(f"/accounts/{created['id']}/sync", headers=reader)
    assert r.status_code == 403 and "accounts:write" in r.json()["message"]
    assert sink.logins == 0


@pytest.fixture
def strict_client(runtime: Runtime, api_key: str) -> Iterator[TestClient]:
    runtime.settings = runtime.settings.model_copy(update={"accounts_allow_private": False})
    with TestClient(
        create_app(runtime, run_worker=False), headers={"Authorization": f"Bearer {api_key}"}
    ) as c:
        yield c


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "100.64.0.1", "169.254.169.254", "[::1]"]
)
def test_internal_hosts_refused_when_private_is_not_allowed(
    strict_client: TestClient, sink: SmtpSink, host: str
) -> None:
    host = host.strip("[]")
    body = account_body(sink)
    body["smtp"] = {"host": host, "port": 25, "security": "none"}
    r = strict_client.post("/accounts", json=body)
    assert r.status_code == 422 and r.json()["field"] == "smtp.host", r.text
    body = account_body(sink)
    # A public address (nothing connects to it here).
    body["smtp"] = {"host": "8.8.8.8", "port": 587}
    body["imap"] = {"host": host, "port": 993}
    r = strict_client.post("/accounts", json=body)
    assert r.status_code == 422 and r.json()["field"] == "imap.host", r.text


def test_internal_hosts_refused_when_connecting(
    runtime: Runtime, client: TestClient, sink: SmtpSink
) -> None:
    """An account saved while private hosts were allowed is not reached once they are not."""
    created = client.post("/accounts", json=account_body(sink)).json()
    runtime.settings = runtime.settings.model_copy(update={"accounts_allow_private": False})
    r = client.post(f"/accounts/{created['id']}/test")
    assert r.json()["ok"] is False and r.json()["error_type"] == "blocked_host"
    assert "CARTEIRO_ACCOUNTS_ALLOW_PRIVATE" in r.json()["detail"]
    assert sink.logins == 0
    r = client.patch(f"/accounts/{created['id']}", json={"smtp": {"host": "127.0.0.2"}})
    assert r.status_code == 422 and r.json()["field"] == "smtp.host"
