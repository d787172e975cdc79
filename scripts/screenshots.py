"""Saves PNGs of the web console's main pages to docs/screenshots/ (refresh them for the README).

Starts a throwaway Carteiro (SQLite in a temporary folder, no worker) with demo data, drives
Debian's headless Chromium with Playwright and writes one PNG per page. Needs the test extra
(`make .venv/.installed-test`) and `chromium-headless-shell`; run `.venv/bin/python
scripts/screenshots.py [--out DIR]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright
from sqlalchemy.orm import Session

from carteiro import wiring
from carteiro.accounts import service as accounts
from carteiro.accounts.schemas import AccountCreate, Limits, SmtpIn
from carteiro.api.app import create_app
from carteiro.campaigns import service as campaigns
from carteiro.campaigns.schemas import CampaignCreate
from carteiro.config import Settings
from carteiro.inbound.models import InboxFolder, InboxMessage, InboxThread
from carteiro.leads.models import Lead, LeadEmail
from carteiro.outbound import service as outbound
from carteiro.outbound.models import EmailEvent
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy import access, audit, people
from carteiro.tenancy.service import Principal

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "demonstracao-123"
CHROMIUM = (
    os.environ.get("CARTEIRO_CHROMIUM", ""),
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    shutil.which("chromium-headless-shell") or "",
    shutil.which("chromium") or "",
)


SUBJECTS = ("Proposta comercial", "Boleto de dezembro", "Confirmação de reunião", "Orçamento")


def demo_inbox(session: Session, *, tenant_id: int, account_id: int, now: datetime) -> None:
    """A few threads in the account's INBOX, as a sync would have stored them."""
    folder = InboxFolder(tenant_id=tenant_id, account_id=account_id, name="INBOX", role="inbox")
    session.add(folder)
    session.flush()
    people_ = ("Carlos Mendes", "Fernanda Alves", "Loja Central", "Pedro Rocha")
    for t, subject in enumerate(("Re: Proposta comercial", "Dúvida sobre o boleto", "Pedido 4521")):
        who = people_[t]
        address = who.lower().replace(" ", ".") + "@cliente.com.br"
        when = now - timedelta(hours=3 * t)
        thread = InboxThread(
            tenant_id=tenant_id,
            account_id=account_id,
            subject=subject,
            subject_key=subject.lower(),
            snippet="Bom dia! Obrigado pelo retorno, podemos conversar amanhã?",
            participants=[address],
            first_message_at=when,
            last_message_at=when,
            message_count=1,
            unread_count=1 if t == 0 else 0,
        )
        session.add(thread)
        session.flush()
        session.add(
            InboxMessage(
                tenant_id=tenant_id,
                account_id=account_id,
                thread_id=thread.id,
                folder_id=folder.id,
                uid=t + 1,
                message_id=f"<demo{t}@cliente.com.br>",
                subject=subject,
                from_address=address,
                from_name=who,
                to_addresses=[{"email": "vendas@example.com.br", "name": ""}],
                cc_addresses=[],
                reply_to=[],
                date=when,
                seen=t != 0,
                snippet="Bom dia! Obrigado pelo retorno, podemos conversar amanhã?",
                text_body="Bom dia!\n\nObrigado pelo retorno, podemos conversar amanhã?\n\n" + who,
            )
        )
    folder.message_count, folder.unread_count = 3, 1


def demo_leads(session: Session, *, tenant_id: int) -> None:
    for i, (name, doc) in enumerate(
        (
            ("Padaria Pão Quente Ltda", "11.222.333/0001-81"),
            ("Carlos Mendes", None),
            ("Loja Central ME", "45.723.174/0001-10"),
        )
    ):
        lead = Lead(tenant_id=tenant_id, lead_id_externo=f"demo-{i}", nome=name, documento=doc)
        session.add(lead)
        session.flush()
        session.add(
            LeadEmail(
                lead_id=lead.lead_id,
                tenant_id=tenant_id,
                email=f"contato{i}@cliente.com.br",
                email_principal=True,
                consentimento="opt_in" if i != 1 else "unknown",
            )
        )


def demo_campaign(session: Session, *, principal: Principal) -> None:
    """A draft with two variants, for the builder's screenshot."""
    body = (
        "<h2>Olá, {{ nome }}!</h2><p>Nossa promoção de dezembro chegou: 20% em todo o "
        'catálogo até o dia 24.</p><p><a href="https://loja.example.com.br/natal">Ver as '
        'ofertas</a></p><p><small><a href="{{ unsubscribe_url }}">Não quero mais '
        "receber</a></small></p>"
    )
    data = {
        "name": "Natal 2026",
        "audience": {"kind": "rules", "rule": {"type": "consent", "value": "opt_in"}},
        "variants": [
            {
                "subject": "{{ nome }}, chegou a promoção de Natal",
                "content": body,
                "preheader": "20% em todo o catálogo",
                "from_name": "Loja Central",
            },
            {"subject": "Natal com 20% de desconto", "content": body, "from_name": "Ana"},
        ],
        "ab": {"enabled": True, "test_fraction": 0.2, "metric": "clicks"},
    }
    campaigns.create(session, principal=principal, data=CampaignCreate.model_validate(data))


def demo_data(runtime: Runtime) -> None:
    key = runtime.bootstrap()
    assert key is not None
    principal = runtime.authenticate(key)
    tid = principal.tenant_id
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        people.create(
            session,
            tenant_id=tid,
            email="maria@example.com",
            name="Maria Souza",
            password=PASSWORD,
            role="owner",
        )
        ids = []
        for name, limits, warmup in (
            ("vendas", Limits(per_minute=20, per_hour=300, per_day=2000), None),
            (
                "cobranca",
                Limits(per_minute=10, per_hour=100, per_day=500),
                {
                    "start": 50,
                    "factor": 1.5,
                    "target": 2000,
                    "started_on": str(now.date() - timedelta(days=4)),
                },
            ),
            ("suporte", Limits(per_hour=60), None),
        ):
            data = AccountCreate(
                name=name,
                email=f"{name}@example.com.br",
                smtp=SmtpIn(host="127.0.0.1", port=2525, security="none"),
                limits=limits,
                warmup=warmup,
            )
            ids.append(accounts.create(session, tenant_id=tid, data=data, vault=runtime.vault).id)
        joao = people.create(
            session,
            tenant_id=tid,
            email="joao@example.com",
            name="João Lima",
            password=PASSWORD,
            role="operator",
        )
        access.grant(session, user_id=joao.id, account_id=ids[1])
        people.create(
            session,
            tenant_id=tid,
            email="ana@example.com",
            name="Ana Prado",
            password=PASSWORD,
            role="viewer",
        )
        events = []
        for i in range(40):
            email, _ = outbound.create(
                session,
                principal=principal,
                data=EmailCreate(
                    to_email=f"cliente{i}@example.com", subject="Proposta", body="Olá"
                ),
                settings=runtime.settings,
            )
            email.account_id = ids[i % 3]
            # Every state the outbox shows: mostly sent, some failed for good, some held.
            email.status = "dead" if i % 13 == 5 else "held" if i % 17 == 3 else "sent"
            if email.status == "dead":
                email.error_type, email.error_message = "auth", "535 authentication failed"
            email.subject = SUBJECTS[i % len(SUBJECTS)]
            session.flush()
            for h in range(24):
                n = (i + h) % 5
                if n:
                    events.append((email, "sent", now - timedelta(hours=h, minutes=n * 7)))
            if i % 3 == 0:
                events.append((email, "failed", now - timedelta(minutes=5 + i)))
            if i % 9 == 0:
                events.append((email, "bounce_hard", now - timedelta(hours=i % 20)))
        session.add_all(
            EmailEvent(tenant_id=tid, email_id=e.id, type=t, created_at=at) for e, t, at in events
        )
        demo_inbox(session, tenant_id=tid, account_id=ids[0], now=now)
        demo_leads(session, tenant_id=tid)
        demo_campaign(session, principal=principal)
        for action in ("login", "mailbox_open", "message_read", "send", "export"):
            audit.record(
                session,
                tenant_id=tid,
                user_id=joao.id,
                action=action,
                actor=joao.email,
                target_type="account",
                target_id=ids[1],
                ip="192.0.2.10",
            )


def serve(runtime: Runtime) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime, run_worker=False), log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def shoot(page: Page, url: str, path: Path) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    if page.locator("#preview-frame").count():
        # The builder's preview frame fills in after its heading (a second request).
        page.frame_locator("#preview-frame").locator("h2").wait_for()
    page.screenshot(path=str(path), full_page=True)
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    exe = next((c for c in CHROMIUM if c and os.access(c, os.X_OK)), None)
    if exe is None:
        print("no Chromium: apt-get install --no-install-recommends chromium-headless-shell")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{tmp}/demo.db",
            data_dir=Path(tmp) / "data",
            secret_key="screenshots",
            api_key=None,
            gmail_email=None,
            gmail_app_password=None,
        )
        runtime = wiring.runtime(settings)
        runtime.migrate()
        demo_data(runtime)
        base, server, thread = serve(runtime)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=exe)
                context = browser.new_context(
                    locale="pt-BR",
                    timezone_id="America/Sao_Paulo",
                    viewport={"width": 1280, "height": 800},
                )
                page = context.new_page()
                shoot(page, f"{base}/ui/login", args.out / "login.png")
                page.get_by_label("E-mail").fill("maria@example.com")
                page.get_by_label("Senha").fill(PASSWORD)
                page.get_by_role("button", name="Entrar").click()
                page.wait_for_url(f"{base}/ui/")
                page.get_by_text("Os números por hora").click()
                shoot(page, f"{base}/ui/", args.out / "dashboard.png")
                for name, path in (
                    ("inbox", "/ui/inbox"),
                    ("compose", "/ui/compose"),
                    ("outbox", "/ui/outbox"),
                    ("outbox-message", "/ui/outbox/1"),
                    ("held", "/ui/queue?tab=held"),
                    ("accounts", "/ui/accounts"),
                    ("account", "/ui/accounts/2"),
                    ("leads", "/ui/leads"),
                    ("campaign-builder", "/ui/campanhas/1/editar"),
                    ("keys", "/ui/keys"),
                ):
                    shoot(page, f"{base}{path}", args.out / f"{name}.png")
                shoot(page, f"{base}/ui/admin/users", args.out / "users.png")
                shoot(page, f"{base}/ui/admin/users/2", args.out / "user-access.png")
                shoot(page, f"{base}/ui/admin/audit", args.out / "audit.png")
                shoot(page, f"{base}/ui/me/sessions", args.out / "sessions.png")
                phone = browser.new_context(
                    locale="pt-BR",
                    timezone_id="America/Sao_Paulo",
                    viewport={"width": 390, "height": 844},
                    storage_state=context.storage_state(),
                ).new_page()
                shoot(phone, f"{base}/ui/", args.out / "dashboard-phone.png")
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            runtime.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
