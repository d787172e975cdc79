"""Leads, imports, suppressions, webhooks and API keys in a real browser (Debian's headless
Chromium): an import's live progress, a key shown once that then works, axe-core on each page."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from leadsui import HEADER, xlsx
from playwright.sync_api import ConsoleMessage, Page, expect
from webkit import LiveServer, Made, axe_violations

from carteiro.leads import worker
from carteiro.tenancy import people, sessions
from carteiro.web.deps import lifetime

pytestmark = pytest.mark.web


@pytest.fixture
def script_errors(page: Page) -> Iterator[list[str]]:
    """Script and console errors of the page (a CSP refusal shows up here)."""
    found: list[str] = []

    def _seen(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            found.append(message.text)

    page.on("console", _seen)
    page.on("pageerror", lambda error: found.append(str(error)))
    yield found


def enter_as(page: Page, server: LiveServer, made: Made) -> None:
    """Gives the browser a session of this person (the login page has its own tests)."""
    rt = server.runtime
    with rt.db.session() as session:
        user = people.get_or_raise(session, tenant_id=_tenant(server), user_id=made.id)
        _row, token = sessions.create(session, user=user, lifetime=lifetime(rt.settings))
    page.context.add_cookies([{"name": "carteiro_session", "value": token, "url": server.url}])


def _tenant(server: LiveServer) -> int:
    from carteiro.tenancy import service as tenancy

    with server.runtime.db.session() as session:
        tenant = tenancy.get_tenant_by_slug(session, slug="default")
        assert tenant is not None
        return tenant.id


def assert_accessible(page: Page) -> None:
    expect(page.locator("h1")).to_have_count(1)
    problems = axe_violations(page)
    assert not problems, f"{page.url}:\n" + "\n".join(problems)


def test_an_import_shows_its_progress_until_done_with_the_row_errors(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., Made],
    tmp_path,  # type: ignore[no-untyped-def]
    script_errors: list[str],
) -> None:
    rows = [HEADER] + [
        [f"Loja {i}", f"Pessoa {i}", "", f"loja{i}@example.com" if i % 25 else "sem arroba", ""]
        for i in range(1, 201)
    ]
    sheet = tmp_path / "lojas.xlsx"
    sheet.write_bytes(xlsx(rows))
    enter_as(page, live_server, make_user("op@example.com", "operator"))
    page.goto(f"{live_server.url}/ui/leads")
    expect(page.get_by_text("Nenhum lead ainda.")).to_be_visible()
    page.get_by_role("link", name="Importar uma planilha").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Importar leads")
    page.get_by_label("Planilha").set_input_files(str(sheet))
    page.get_by_role("button", name="Importar", exact=True).click()
    expect(page).to_have_url(re.compile(r"/ui/leads/import/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])
    state = page.locator("#job-state")
    expect(state).to_contain_text("pendente")

    # No worker runs in this server: run the job now, while the page polls its fragment.
    runner = threading.Thread(
        target=worker.run_now, args=(live_server.runtime, job_id), kwargs={"worker_id": "t"}
    )
    runner.start()
    expect(state).to_contain_text("concluído", timeout=20_000)
    runner.join(timeout=20)
    expect(page.locator("#job-bar")).to_have_attribute("value", "100.0")
    expect(page.locator("h1")).to_have_count(1)  # the fragment, not a page inside the page
    expect(page.locator("#errors-table tbody tr")).to_have_count(8)
    expect(page.locator("#errors-table")).to_contain_text("não é um endereço de e-mail")
    expect(page.locator("[data-count=created]")).to_have_text("200")
    # Polling stopped: the final block has no trigger.
    expect(page.locator("#job-progress")).not_to_have_attribute("hx-trigger", re.compile("."))
    assert_accessible(page)

    page.get_by_role("link", name="Ver os leads").click()
    expect(page.locator("[data-total]")).to_have_attribute("data-total", "200")
    page.get_by_label("Buscar").fill("Loja 7")
    page.get_by_role("button", name="Filtrar").click()
    expect(page).to_have_url(re.compile(r"/ui/leads\?q=Loja\+7"))
    assert not script_errors, script_errors


def test_a_new_key_is_shown_once_then_authenticates_until_revoked(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., Made],
    script_errors: list[str],
) -> None:
    enter_as(page, live_server, make_user("adm@example.com", "admin"))
    page.goto(f"{live_server.url}/ui/keys")
    page.get_by_role("link", name="Nova chave").click()
    page.get_by_label("Nome").fill("CRM")
    for default in ("emails:send", "emails:read"):
        page.get_by_label(default, exact=True).uncheck()
    page.get_by_label("leads:read", exact=True).check()
    page.get_by_role("button", name="Criar chave").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Chave de API criada")
    plain = page.locator("[data-plain-key]").input_value()
    assert plain.startswith("ct_")
    assert_accessible(page)
    # The page came by POST/redirect/GET: a reload posts nothing and shows the key no more.
    page.reload()
    expect(page.locator("#keys-table")).to_contain_text("CRM")
    assert plain not in page.content()
    expect(page.locator("#keys-table tr[data-key]", has_text="CRM")).to_have_count(1)

    bearer = {"Authorization": f"Bearer {plain}"}
    assert httpx.get(f"{live_server.url}/leads", headers=bearer).status_code == 200

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revogar CRM").click()
    expect(page.get_by_role("status")).to_contain_text("revogada")
    assert httpx.get(f"{live_server.url}/leads", headers=bearer).status_code == 401
    assert not script_errors, script_errors


def test_a_dismissed_confirmation_removes_nothing(
    page: Page, live_server: LiveServer, make_user: Callable[..., Made]
) -> None:
    enter_as(page, live_server, make_user("op@example.com", "operator"))
    page.goto(f"{live_server.url}/ui/suppressions")
    page.get_by_label("Endereço ou domínio").fill("ana@example.com")
    page.get_by_role("button", name="Adicionar").click()
    row = page.locator('[data-suppression="ana@example.com"]')
    expect(row).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Remover ana@example.com").click()
    page.wait_for_timeout(300)
    expect(row).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Remover ana@example.com").click()
    expect(page.get_by_role("status")).to_contain_text("Removido")
    expect(row).to_have_count(0)


def test_every_page_passes_axe(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., Made],
    script_errors: list[str],
) -> None:
    enter_as(page, live_server, make_user("adm@example.com", "admin"))
    base = live_server.url
    # Empty states first.
    for path in ("/ui/leads", "/ui/leads/import", "/ui/suppressions", "/ui/webhooks", "/ui/keys"):
        page.goto(base + path)
        assert_accessible(page)

    rows = [HEADER, ["Padaria", "Ana", "11.222.333/0001-81", "ana@padaria.com.br", "11987654321"]]
    rows.append(["Oficina", "Zé", "123", "sem arroba", ""])
    page.goto(base + "/ui/leads/import")
    sheet_path = live_server.runtime.settings.data_dir / "axe.xlsx"
    sheet_path.parent.mkdir(parents=True, exist_ok=True)
    sheet_path.write_bytes(xlsx(rows))
    page.get_by_label("Planilha").set_input_files(str(sheet_path))
    page.get_by_role("button", name="Importar", exact=True).click()
    expect(page).to_have_url(re.compile(r"/ui/leads/import/\d+$"))
    assert_accessible(page)  # while waiting
    job_id = int(page.url.rsplit("/", 1)[1])
    worker.run_now(live_server.runtime, job_id, worker_id="t")
    expect(page.locator("#job-state")).to_contain_text("concluído", timeout=20_000)
    assert_accessible(page)
    for path in ("/ui/leads", "/ui/leads/import"):
        page.goto(base + path)
        assert_accessible(page)
    page.goto(base + "/ui/leads")
    page.get_by_role("link", name="Padaria").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Padaria")
    assert_accessible(page)

    page.goto(base + "/ui/suppressions")
    page.get_by_label("Endereço ou domínio").fill("spam.example")
    page.get_by_role("button", name="Adicionar").click()
    expect(page.locator('[data-suppression="spam.example"]')).to_have_count(1)
    assert_accessible(page)

    page.goto(base + "/ui/webhooks")
    page.get_by_label("Endereço (URL)").fill("https://hooks.example.com/in")
    page.get_by_role("button", name="Criar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhook criado")
    assert_accessible(page)
    page.get_by_role("link", name="Ver o registro de entregas").click()
    assert_accessible(page)
    page.goto(base + "/ui/webhooks")
    assert_accessible(page)

    page.goto(base + "/ui/keys/new")
    assert_accessible(page)
    page.goto(base + "/ui/keys")
    assert_accessible(page)
    assert not script_errors, script_errors
