"""The console in a real browser (Debian's headless Chromium): setup, login, sessions, CSRF,
roles, the language switch, the chart, a phone's width, and axe-core on every page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from webkit import PASSWORD, LiveServer, Made, axe_violations

from carteiro.outbound import service as outbound
from carteiro.outbound.models import EmailEvent
from carteiro.outbound.schemas import EmailCreate
from carteiro.tenancy.service import Principal

pytestmark = pytest.mark.web


@pytest.fixture
def csp_errors(page: Page) -> Iterator[list[str]]:
    """Script errors and console errors of the page (a CSP refusal shows up here), except the
    statuses of pages that are errors on purpose (404, 401)."""
    found: list[str] = []

    def _seen(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            found.append(message.text)

    page.on("console", _seen)
    page.on("pageerror", lambda error: found.append(str(error)))
    yield found


def log_in(page: Page, server: LiveServer, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/ui/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Senha").fill(password)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Painel")
    # The heading shows before the deferred scripts (htmx, Chart.js) have run.
    page.wait_for_load_state("load")


def assert_accessible(page: Page) -> None:
    expect(page.locator("h1")).to_have_count(1)
    problems = axe_violations(page)
    assert not problems, f"{page.url}:\n" + "\n".join(problems)


def test_first_run_setup_creates_the_owner_then_logout_and_login(
    page: Page, live_server: LiveServer, csp_errors: list[str]
) -> None:
    page.goto(live_server.setup_link())
    expect(page.get_by_role("heading", level=1)).to_have_text("Configurar o Carteiro")
    assert page.locator("html").get_attribute("lang") == "pt-BR"
    assert_accessible(page)
    page.get_by_label("Seu nome").fill("Dona Maria")
    page.get_by_label("E-mail").fill("maria@example.com")
    page.get_by_label("Senha", exact=True).fill(PASSWORD)
    page.get_by_label("Repita a senha").fill(PASSWORD)
    page.get_by_role("button", name="Criar o proprietário e entrar").click()
    expect(page).to_have_url(f"{live_server.url}/ui/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Painel")
    expect(page.get_by_role("navigation", name="Principal")).to_contain_text("Caixa de entrada")
    assert_accessible(page)

    page.get_by_role("button", name="Dona Maria").click()
    page.get_by_role("button", name="Sair").click()
    expect(page).to_have_url(f"{live_server.url}/ui/login")
    assert_accessible(page)
    # The used link is gone.
    page.goto(live_server.url + "/setup/" + "x" * 32)
    expect(page.get_by_role("heading", level=1)).to_have_text("Link de configuração inválido")
    assert_accessible(page)

    page.goto(f"{live_server.url}/ui/admin/users")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/admin/users$"))
    page.get_by_label("E-mail").fill("maria@example.com")
    page.get_by_label("Senha").fill("wrong password")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("alert")).to_have_text("E-mail ou senha incorretos.")
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page).to_have_url(f"{live_server.url}/ui/admin/users")
    expect(page.locator("[data-user='maria@example.com']")).to_contain_text("proprietário")
    assert not csp_errors, csp_errors


def test_ending_all_other_sessions_logs_out_the_other_browser(
    browser: Browser,
    browser_context_args: dict[str, object],
    live_server: LiveServer,
    make_user: Callable[..., Made],
) -> None:
    make_user("ana@example.com", "operator", name="Ana")
    laptop = browser.new_context(**browser_context_args).new_page()  # type: ignore[arg-type]
    phone = browser.new_context(**browser_context_args).new_page()  # type: ignore[arg-type]
    log_in(laptop, live_server, "ana@example.com")
    log_in(phone, live_server, "ana@example.com")
    phone.goto(f"{live_server.url}/ui/me/sessions")
    expect(phone.locator("[data-session]")).to_have_count(2)
    assert_accessible(phone)
    phone.once("dialog", lambda dialog: dialog.accept())
    phone.get_by_role("button", name="Sair de todas as outras sessões").click()
    expect(phone.get_by_role("status")).to_have_text("Todas as outras sessões foram encerradas.")
    expect(phone.locator("[data-session]")).to_have_count(1)
    laptop.reload()
    expect(laptop.get_by_role("heading", level=1)).to_have_text("Entrar")
    laptop.context.close()
    phone.context.close()


def test_a_form_without_its_csrf_token_is_refused(
    page: Page, live_server: LiveServer, make_user: Callable[..., Made]
) -> None:
    make_user("ad@example.com", "admin", name="Ad")
    log_in(page, live_server, "ad@example.com")
    page.goto(f"{live_server.url}/ui/admin/users/new")
    assert_accessible(page)
    page.get_by_label("Nome").fill("Sem Token")
    page.get_by_label("E-mail").fill("semtoken@example.com")
    page.get_by_label("Senha inicial").fill(PASSWORD)
    # A forged form: the same fields, no token.
    page.locator("main form input[name=csrf_token]").evaluate("el => el.remove()")
    page.get_by_role("button", name="Criar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Você não pode fazer isto")
    expect(page.get_by_role("alert")).to_contain_text("código de segurança")
    assert_accessible(page)
    page.goto(f"{live_server.url}/ui/admin/users")
    expect(page.locator("[data-user='semtoken@example.com']")).to_have_count(0)


def test_roles_limit_pages_and_mailboxes(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., Made],
    make_account: Callable[[str], int],
) -> None:
    vendas, _cobranca = make_account("vendas"), make_account("cobranca")
    make_user("leitor@example.com", "viewer", name="Leitor", grants=(vendas,))
    log_in(page, live_server, "leitor@example.com")
    nav = page.get_by_role("navigation", name="Principal")
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    expect(page.locator("#accounts-table tbody tr")).to_have_count(1)
    expect(page.locator("[data-account='vendas']")).to_be_visible()
    expect(page.locator("[data-account='cobranca']")).to_have_count(0)
    # No send or compose action anywhere on the page for a viewer.
    expect(page.get_by_role("link", name=re.compile("Escrever|Enviar"))).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Escrever|Enviar"))).to_have_count(0)
    page.goto(f"{live_server.url}/ui/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Você não pode fazer isto")
    assert_accessible(page)


def test_admin_grants_a_mailbox_and_the_operator_sees_only_it(
    browser: Browser,
    browser_context_args: dict[str, object],
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., Made],
    make_account: Callable[[str], int],
) -> None:
    make_account("vendas")
    make_account("cobranca")
    make_user("ad@example.com", "admin", name="Ad")
    op = make_user("op@example.com", "operator", name="Op")
    log_in(page, live_server, "ad@example.com")
    page.goto(f"{live_server.url}/ui/admin/users/{op.id}")
    assert_accessible(page)
    page.get_by_label("cobranca").check()
    page.get_by_role("button", name="Salvar caixas").click()
    expect(page.get_by_role("status")).to_have_text("Salvo.")
    expect(page.get_by_label("cobranca")).to_be_checked()
    other = browser.new_context(**browser_context_args).new_page()  # type: ignore[arg-type]
    log_in(other, live_server, "op@example.com")
    expect(other.locator("[data-account='cobranca']")).to_be_visible()
    expect(other.locator("[data-account='vendas']")).to_have_count(0)
    other.context.close()
    page.goto(f"{live_server.url}/ui/admin/audit?action=access_grant")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)
    expect(page.get_by_label("Ação")).to_have_value("access_grant")
    assert_accessible(page)


def test_language_switch(
    page: Page, live_server: LiveServer, make_user: Callable[..., Made]
) -> None:
    page.goto(f"{live_server.url}/ui/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Entrar")
    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("button", name="Mudar idioma").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    assert page.locator("html").get_attribute("lang") == "en"
    assert_accessible(page)
    make_user("ana@example.com", "admin", name="Ana")
    page.get_by_label("E-mail").fill("ana@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    page.get_by_label("Language").select_option("pt_BR")
    page.get_by_role("button", name="Change language").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Painel")


def _traffic(live_server: LiveServer, principal: Principal, account_id: int) -> None:
    rt = live_server.runtime
    now = datetime.now(UTC)
    with rt.db.session() as session:
        email, _ = outbound.create(
            session,
            principal=principal,
            data=EmailCreate(to_email="ana@example.com", subject="Oi", body="corpo"),
            settings=rt.settings,
        )
        email.account_id = account_id
        session.flush()
        events = [("sent", now - timedelta(hours=h)) for h in range(0, 20, 2)]
        events += [("failed", now - timedelta(minutes=m)) for m in range(1, 13)]
        events += [("bounce_hard", now - timedelta(hours=3))]
        session.add_all(
            EmailEvent(tenant_id=email.tenant_id, email_id=email.id, type=t, created_at=at)
            for t, at in events
        )


def test_dashboard_chart_table_alerts_and_every_admin_page_pass_axe(
    page: Page,
    live_server: LiveServer,
    principal: Principal,
    make_user: Callable[..., Made],
    make_account: Callable[[str], int],
    csp_errors: list[str],
) -> None:
    account = make_account("vendas")
    _traffic(live_server, principal, account)
    made = make_user("ad@example.com", "admin", name="Ad")
    log_in(page, live_server, "ad@example.com")
    expect(page.locator("[data-alert='failures']")).to_contain_text("12 mensagens falharam")
    expect(page.locator("[data-alert='bounce_rate']")).to_be_visible()
    # Deferred scripts may still be running when the heading shows.
    page.wait_for_function("() => window.Chart && Chart.getChart('hourly-chart')")
    labels = page.evaluate("() => Chart.getChart('hourly-chart').data.labels.length")
    assert labels == 24
    sent = page.evaluate("() => Chart.getChart('hourly-chart').data.datasets[0].data")
    assert sum(sent) == 10
    page.get_by_text("Os números por hora").click()
    expect(page.locator("#hourly-table tbody tr")).to_have_count(24)
    assert_accessible(page)
    for path in (
        "/ui/admin/users",
        "/ui/admin/users/new",
        f"/ui/admin/users/{made.id}",
        "/ui/admin/audit",
        "/ui/admin/audit?action=nothing-like-this",
        "/ui/me/sessions",
        "/ui/no-such-page",
    ):
        page.goto(live_server.url + path)
        assert_accessible(page)
    assert not csp_errors, csp_errors


def test_usable_on_a_phone(
    browser: Browser,
    browser_context_args: dict[str, object],
    live_server: LiveServer,
    make_user: Callable[..., Made],
    make_account: Callable[[str], int],
) -> None:
    make_account("vendas")
    make_user("ad@example.com", "admin", name="Ad")
    phone = browser.new_context(
        **{**browser_context_args, "viewport": {"width": 390, "height": 844}}  # type: ignore[arg-type]
    ).new_page()
    log_in(phone, live_server, "ad@example.com")
    for path in ("/ui/", "/ui/admin/users", "/ui/admin/audit", "/ui/me/sessions"):
        phone.goto(live_server.url + path)
        wide = phone.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")
        assert not wide, f"{path} scrolls sideways on a phone"
    menu = phone.get_by_role("button", name="Mostrar menu")
    expect(menu).to_be_visible()
    menu.click()
    expect(phone.get_by_role("link", name="Caixa de entrada")).to_be_visible()
    phone.context.close()


def test_htmx_requests_carry_the_csrf_header_and_panes_swap_alone(
    page: Page, live_server: LiveServer, make_user: Callable[..., Made]
) -> None:
    make_user("ana@example.com", "viewer", name="Ana")
    log_in(page, live_server, "ana@example.com")
    with page.expect_request("**/ui/lang") as posted:
        page.evaluate(
            "() => htmx.ajax('POST', '/ui/lang', {target: '#live-region', swap: 'none', "
            "values: {locale: 'en', next: '/ui/dashboard/pane/queue'}})"
        )
    assert posted.value.headers["x-csrf-token"] == page.evaluate("() => carteiro.csrfToken()")
    response = posted.value.response()
    assert response is not None and response.status == 303  # not 403: the token was checked
    # The polled queue pane replaces itself with a fragment, never a whole page.
    with page.expect_response("**/ui/dashboard/pane/queue") as pane:
        page.evaluate(
            "() => htmx.ajax('GET', '/ui/dashboard/pane/queue', "
            "{target: '#queue', swap: 'outerHTML'})"
        )
    assert pane.value.status == 200
    expect(page.locator("#queue")).to_have_count(1)
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("#queue h2")).to_have_text("Queue")  # the language just switched
