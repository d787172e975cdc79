"""The accounts pages: add and change an account through the form (passwords write-only), a
real login test against the SMTP sink, the DNS report from a local DNS server, pause, resume and
removal, each limited by role and by the mailboxes a person sees."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from webkit import csrf_of

from carteiro.accounts.models import Account
from carteiro.config import Settings
from carteiro.runtime import Runtime
from carteiro.tenancy.audit import AuditEntry
from carteiro.testing.dns_server import DnsServer
from carteiro.testing.smtp_server import SmtpSink


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, dns_server: DnsServer) -> Settings:
    return settings.model_copy(
        update={"dns_nameservers": ["127.0.0.1"], "dns_port": dns_server.port, "dns_timeout": 2.0}
    )


def _form(sink: SmtpSink, **over: str) -> dict[str, str]:
    return {
        "name": "vendas",
        "email": "vendas@empresa.com.br",
        "display_name": "Equipe Vendas",
        "smtp_host": sink.hostname,
        "smtp_port": str(sink.port),
        "smtp_security": "starttls",
        "smtp_username": "user",
        "smtp_password": "secret",
        "smtp_ca_file": str(sink.cert_path),
        "per_hour": "100",
        "per_day": "500",
        "max_connections": "2",
        "weight": "1",
        "warmup_start": "",
        "warmup_target": "",
        "warmup_factor": "",
        **over,
    }


def _post(client: TestClient, url: str, data: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        url, data={**(data or {}), "csrf_token": csrf_of(client)}, follow_redirects=False
    )


def _account(runtime: Runtime, name: str) -> Account | None:
    with runtime.db.session() as session:
        found = session.scalar(select(Account).where(Account.name == name))
        if found is not None:
            session.expunge(found)
        return found


def _count(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count(Account.id))) or 0


def test_an_admin_adds_an_account_and_its_login_test_reaches_the_sink(
    runtime: Runtime, as_user: Callable[..., TestClient], sink: SmtpSink
) -> None:
    admin = as_user("admin")
    created = _post(admin, "/ui/accounts", _form(sink))
    assert created.status_code == 303, created.text
    account = _account(runtime, "vendas")
    assert account is not None and account.limit_per_hour == 100 and account.limit_per_day == 500
    assert account.smtp_password_enc and b"secret" not in account.smtp_password_enc.encode()
    page = admin.get(created.headers["location"])
    assert "vendas@empresa.com.br" in page.text and "secret" not in page.text
    tested = _post(admin, f"/ui/accounts/{account.id}/test")
    assert tested.status_code == 200
    assert 'data-test="ok"' in tested.text, tested.text


def test_bad_input_shows_the_field_and_writes_nothing(
    runtime: Runtime, as_user: Callable[..., TestClient], sink: SmtpSink
) -> None:
    admin = as_user("admin")
    bad = _post(admin, "/ui/accounts", _form(sink, email="não é e-mail"))
    assert bad.status_code == 422
    assert 'data-error-field="email"' in bad.text and 'id="email"' in bad.text
    assert 'value="Equipe Vendas"' in bad.text  # what was typed is kept
    assert 'value="secret"' not in bad.text  # but never a password
    worse = _post(admin, "/ui/accounts", _form(sink, per_day="muitos"))
    assert worse.status_code == 422 and 'data-error-field="per_day"' in worse.text
    assert _count(runtime) == 0


def test_editing_keeps_a_password_left_empty(
    runtime: Runtime, as_user: Callable[..., TestClient], sink: SmtpSink
) -> None:
    admin = as_user("admin")
    _post(
        admin, "/ui/accounts", _form(sink, imap_host="imap.empresa.com.br", imap_password="imap-pw")
    )
    account = _account(runtime, "vendas")
    assert account is not None and account.imap is not None
    stored = (account.smtp_password_enc, account.imap["password_enc"])
    form = admin.get(f"/ui/accounts/{account.id}/edit")
    assert 'value="Equipe Vendas"' in form.text and "imap-pw" not in form.text
    changed = _form(sink, smtp_password="", imap_host="imap.empresa.com.br", per_day="800")
    saved = _post(admin, f"/ui/accounts/{account.id}", changed)
    assert saved.status_code == 303, saved.text
    after = _account(runtime, "vendas")
    assert after is not None and after.imap is not None and after.limit_per_day == 800
    assert (after.smtp_password_enc, after.imap["password_enc"]) == stored


def test_roles_and_granted_mailboxes_limit_the_pages(
    runtime: Runtime, as_user: Callable[..., TestClient], sink: SmtpSink
) -> None:
    admin = as_user("admin")
    _post(admin, "/ui/accounts", _form(sink))
    _post(admin, "/ui/accounts", _form(sink, name="cobranca", email="cobranca@empresa.com.br"))
    sales, billing = _account(runtime, "vendas"), _account(runtime, "cobranca")
    assert sales is not None and billing is not None
    operator = as_user("operator", grants=(sales.id,))
    listed = operator.get("/ui/accounts").text
    assert "vendas@empresa.com.br" in listed and "cobranca@empresa.com.br" not in listed
    assert "/ui/accounts/new" not in listed
    assert operator.get(f"/ui/accounts/{billing.id}").status_code == 404
    assert operator.get("/ui/accounts/new").status_code == 403
    assert (
        _post(operator, "/ui/accounts", _form(sink, name="x", email="x@e.com")).status_code == 403
    )
    assert _post(operator, f"/ui/accounts/{sales.id}/pause").status_code == 403
    assert _count(runtime) == 2


def test_pause_resume_and_removal_that_asks_for_the_name(
    runtime: Runtime, as_user: Callable[..., TestClient], sink: SmtpSink
) -> None:
    admin = as_user("admin")
    _post(admin, "/ui/accounts", _form(sink))
    account = _account(runtime, "vendas")
    assert account is not None
    assert _post(admin, f"/ui/accounts/{account.id}/pause").status_code == 303
    assert (a := _account(runtime, "vendas")) is not None and a.status == "paused"
    assert _post(admin, f"/ui/accounts/{account.id}/resume").status_code == 303
    assert (a := _account(runtime, "vendas")) is not None and a.status == "active"
    wrong = _post(admin, f"/ui/accounts/{account.id}/delete", {"confirm": "outra"})
    assert wrong.status_code == 422 and _count(runtime) == 1
    assert (
        _post(admin, f"/ui/accounts/{account.id}/delete", {"confirm": "vendas"}).status_code == 303
    )
    assert _count(runtime) == 0
    with runtime.db.session() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"account_create", "account_paused", "account_active", "delete"} <= actions


def test_the_dns_report_lists_what_to_publish(
    runtime: Runtime, as_user: Callable[..., TestClient], sink: SmtpSink, dns_server: DnsServer
) -> None:
    dns_server.txt("empresa.com.br", "v=spf1 include:_spf.google.com ~all")
    admin = as_user("admin")
    _post(admin, "/ui/accounts", _form(sink))
    account = _account(runtime, "vendas")
    assert account is not None
    before = admin.get(f"/ui/accounts/{account.id}").text
    assert 'data-list="dns-checks"' not in before
    checked = _post(admin, f"/ui/accounts/{account.id}/dns")
    assert checked.status_code == 303
    page = admin.get(checked.headers["location"]).text
    assert 'data-check="spf"' in page and 'data-check="dmarc"' in page
    assert "_dmarc.empresa.com.br" in page  # DMARC is missing: its record is offered
