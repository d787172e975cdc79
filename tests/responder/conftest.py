"""Responder fixtures: Dovecot-fed inbox, API keys, AI rules and a fast-retrying runtime."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from sqlalchemy import select

from carteiro import wiring
from carteiro.config import Settings
from carteiro.inbound import rules
from carteiro.inbound.schemas import RuleCreate
from carteiro.outbound.models import Email
from carteiro.responder.models import ResponderJob
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal
from imapkit import dovecot, imap_account, imap_settings, sync  # noqa: F401  (fixtures)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Fast retries and a generous budget unless a test narrows it."""
    return settings.model_copy(
        update={
            "responder_retry_base_seconds": 0.0,
            "responder_retry_max_seconds": 0.0,
            "responder_poll_interval": 0.05,
            "responder_max_attempts": 3,
            "responder_tokens_per_minute": 0,
        }
    )


def mail(
    *,
    subject: str = "Pedido de orçamento",
    sender: str = "Ana <ana@cliente.com.br>",
    body: str = "Olá, gostaria de um orçamento para 10 caixas.",
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [
        f"From: {sender}",
        "To: inbox@example.com",
        f"Subject: {subject}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {make_msgid(domain='cliente.com.br')}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        *[f"{k}: {v}" for k, v in (headers or {}).items()],
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


@pytest.fixture
def make_principal(runtime: Runtime, api_key: str) -> Callable[..., Principal]:
    """A new key of the default tenant, as its principal."""

    def make(name: str = "responder", **options: Any) -> Principal:
        with runtime.db.session() as session:
            tenant = tenancy.get_tenant_by_slug_or_raise(session, slug=tenancy.DEFAULT_TENANT)
            key, _ = tenancy.create_key(session, tenant_id=tenant.id, name=name, **options)
            return tenancy.principal_for(key)

    return make


@pytest.fixture
def ai_rule(runtime: Runtime) -> Callable[..., int]:
    """An inbox rule that hands matching mail to the AI responder, made by `principal`."""

    def make(principal: Principal, *, mode: str = "review", **match: Any) -> int:
        with runtime.db.session() as session:
            return rules.create(
                session,
                principal=principal,
                data=RuleCreate(
                    name=f"ia-{mode}",
                    responder="ai",
                    match=match,
                    prompt="Somos a Padaria Pão Quente. Assine como 'Equipe Pão Quente'.",
                    reply_mode=mode,  # type: ignore[arg-type]
                ),
            ).id

    return make


def jobs_of(runtime: Runtime) -> list[ResponderJob]:
    with runtime.db.session() as session:
        found = list(session.scalars(select(ResponderJob).order_by(ResponderJob.id)))
        session.expunge_all()
        return found


def emails_of(runtime: Runtime) -> list[Email]:
    with runtime.db.session() as session:
        found = list(session.scalars(select(Email).order_by(Email.id)))
        for e in found:
            _ = (e.body, e.raw)
        session.expunge_all()
        return found


def fresh_runtime(settings: Settings, **changes: Any) -> Runtime:
    return wiring.runtime(settings.model_copy(update=changes))
