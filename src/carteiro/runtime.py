"""Wires settings, database, vault and dispatcher together for every front end."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from carteiro.accounts import service as accounts
from carteiro.accounts.vault import Vault
from carteiro.config import Settings
from carteiro.db import migrate
from carteiro.db.engine import Database
from carteiro.events.bus import Bus
from carteiro.files import private_dir
from carteiro.tenancy import service as tenancy
from carteiro.tenancy import setup as people_setup
from carteiro.tenancy.service import Principal

log = logging.getLogger("carteiro")


class EmbeddedDispatcher(Protocol):
    """What a front end may ask of the dispatcher running in its process."""

    worker_id: str

    def wake(self) -> None: ...


class InboxOwner(Protocol):
    """A thread keeping one account's inbox in sync in this process."""

    account_id: int
    syncs: int


@dataclass
class Runtime:
    settings: Settings
    db: Database
    vault: Vault
    # Who reacts to what another domain publishes: given by the composition root
    # (`carteiro.wiring`), so this module imports none of the domains that react.
    bus: Bus
    # Set while this process runs them (`carteiro serve` with its worker, `carteiro worker`);
    # the domains that start them fill these in, so this module imports none of them.
    dispatcher: EmbeddedDispatcher | None = None
    inbox_owners: Mapping[int, InboxOwner] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, bus: Bus) -> Runtime:
        # Captured mail, inbox files and the secret key live here: owner-only, even if an
        # older version created it readable by others.
        private_dir(settings.data_dir)
        db = Database(settings.database_url)
        vault = Vault.from_settings(secret_key=settings.secret_key, data_dir=settings.data_dir)
        return cls(settings=settings, db=db, vault=vault, bus=bus)

    def migrate(self) -> None:
        migrate.upgrade(self.db.engine)

    def bootstrap(self) -> str | None:
        """Default tenant (and its first key, returned once) plus the seed's Gmail account."""
        with self.db.session() as session:
            tenant, plain = tenancy.ensure_default_tenant(session)
            s = self.settings
            if s.gmail_email and s.gmail_app_password:
                accounts.ensure_gmail_from_env(
                    session,
                    tenant_id=tenant.id,
                    email=s.gmail_email,
                    app_password=s.gmail_app_password,
                    vault=self.vault,
                )
        return plain

    def setup_token(self) -> str | None:
        """A new one-time setup token while the default tenant has no owner (None after)."""
        with self.db.session() as session:
            tenant, _ = tenancy.ensure_default_tenant(session)
            lifetime = timedelta(hours=self.settings.setup_token_hours)
            return people_setup.issue(session, tenant_id=tenant.id, lifetime=lifetime)

    def authenticate(self, plain: str | None) -> Principal:
        with self.db.session() as session:
            return tenancy.authenticate(session, plain=plain)

    def local_principal(self, tenant: str | None = None) -> Principal:
        """For CLI commands run next to the database: CARTEIRO_API_KEY if set, else the
        default (or named) tenant with every scope."""
        if self.settings.api_key and tenant is None:
            return self.authenticate(self.settings.api_key)
        with self.db.session() as session:
            t = tenancy.get_tenant_by_slug_or_raise(session, slug=tenant or tenancy.DEFAULT_TENANT)
            return Principal(tenant_id=t.id, key_id=None, key_name="local cli", scopes=("*",))
