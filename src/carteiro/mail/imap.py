"""IMAP connection settings and a logged-in connection (IMAPClient, run in threads)."""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from carteiro import network
from carteiro.errors import Unavailable

DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
# Gmail files what SMTP sends into [Gmail]/Sent Mail by itself; a second copy would duplicate it.
SAVES_SENT_ITSELF = ("imap.gmail.com", "outlook.office365.com", "imap-mail.outlook.com")


class ImapError(Unavailable):
    """The IMAP server refused us or could not be reached."""


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    security: str
    username: str
    password: str | None
    verify_tls: bool = True
    ca_file: str | None = None
    timeout: float = 30.0
    sync_enabled: bool = True
    idle: bool = True
    poll_seconds: float = 300.0
    append_sent: bool = True
    folders: tuple[str, ...] | None = None
    page_size: int = 500
    # False: refuse hosts that resolve to loopback, private or other non-global addresses.
    allow_private: bool = True


def _tls_context(config: ImapConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.ca_file)
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(config: ImapConfig) -> IMAPClient:
    """A logged-in connection; failures become ImapError with a reason a person understands."""
    where = f"{config.host}:{config.port}"
    if not config.allow_private:
        try:
            network.resolve_global(config.host, config.port)
        except network.Refused as exc:
            raise ImapError(
                f"connection to the IMAP server {where} not attempted: {exc} "
                "(CARTEIRO_ACCOUNTS_ALLOW_PRIVATE is false)"
            ) from None
    try:
        context = _tls_context(config) if config.security != "none" else None
        client = IMAPClient(
            config.host,
            port=config.port,
            ssl=config.security == "ssl",
            ssl_context=context,
            timeout=config.timeout,
        )
    except (OSError, IMAPClientError) as exc:
        raise ImapError(f"cannot reach the IMAP server {where}: {_reason(exc)}") from None
    try:
        if config.security == "starttls":
            client.starttls(context)
        client.login(config.username, config.password or "")
        if client.has_capability("CONDSTORE") and client.has_capability("ENABLE"):
            # Only allowed before a folder is selected: SELECT then reports HIGHESTMODSEQ.
            client.enable("CONDSTORE")
    except LoginError as exc:
        _quietly_close(client)
        raise ImapError(f"the IMAP server {where} refused the login: {_reason(exc)}") from None
    except (OSError, IMAPClientError) as exc:
        _quietly_close(client)
        raise ImapError(f"IMAP session with {where} failed: {_reason(exc)}") from None
    # Keep the server's time zones: INTERNALDATE becomes an aware datetime.
    client.normalise_times = False
    return client


def _reason(exc: BaseException) -> str:
    """A fixed description of what went wrong: never the server's own words, so a sync or
    health check cannot be used to read replies off arbitrary hosts."""
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return "TLS failed (check security, verify_tls and ca_file)"
    if isinstance(exc, LoginError):
        return "check username and password"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        return "network error"
    return "unexpected reply from the server"


def _quietly_close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()


def close(client: IMAPClient | None) -> None:
    if client is not None:
        _quietly_close(client)
