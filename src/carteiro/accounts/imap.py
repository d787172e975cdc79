"""An account's IMAP settings: read from its row, with the password decrypted by the vault."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carteiro.accounts.models import Account
from carteiro.accounts.vault import Vault
from carteiro.errors import InvalidInput
from carteiro.mail.imap import DEFAULT_PORTS, SAVES_SENT_ITSELF, ImapConfig


def _flag(imap: dict[str, Any], *names: str, default: bool) -> bool:
    for name in names:
        if name in imap and imap[name] is not None:
            return bool(imap[name])
    return default


def imap_config(
    account: Account, vault: Vault, *, timeout: float = 30.0, allow_private: bool = True
) -> ImapConfig | None:
    """The account's IMAP settings, or None when it has none; bad settings are refused."""
    imap = account.imap or {}
    host = str(imap.get("host") or "").strip()
    if not host:
        return None
    security = str(imap.get("security") or "ssl").lower()
    if security not in DEFAULT_PORTS:
        raise InvalidInput("imap.security must be ssl, starttls or none", field="imap.security")
    try:
        port = int(imap.get("port") or DEFAULT_PORTS[security])
        poll = float(imap.get("poll_seconds") or 300)
        page = int(imap.get("page_size") or 500)
    except (TypeError, ValueError):
        raise InvalidInput("imap.port, poll_seconds and page_size must be numbers") from None
    folders = imap.get("folders")
    return ImapConfig(
        host=host,
        port=port,
        security=security,
        username=str(imap.get("username") or account.email),
        password=vault.decrypt(imap["password_enc"]) if imap.get("password_enc") else None,
        verify_tls=_flag(imap, "verify_tls", default=True),
        ca_file=imap.get("ca_file") or None,
        timeout=timeout,
        sync_enabled=_flag(imap, "sync_enabled", "imap_sync_enabled", default=True),
        idle=_flag(imap, "idle", default=True),
        poll_seconds=max(5.0, poll),
        append_sent=_flag(imap, "append_sent", default=host.lower() not in SAVES_SENT_ITSELF),
        folders=tuple(str(f) for f in folders) if isinstance(folders, list) else None,
        page_size=min(max(page, 10), 2000),
        allow_private=allow_private,
    )


def imap_accounts(session: Session, *, tenant_id: int) -> list[tuple[int, str]]:
    """(id, name) of the tenant's accounts that have IMAP settings."""
    rows = session.execute(
        select(Account.id, Account.name, Account.imap)
        .where(Account.tenant_id == tenant_id)
        .order_by(Account.id)
    ).all()
    return [(i, n) for i, n, imap in rows if (imap or {}).get("host")]
