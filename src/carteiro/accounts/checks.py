"""What an account must satisfy before it is stored: a composable sender, a CA file, a host."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from carteiro import network
from carteiro.errors import InvalidInput
from carteiro.mail.addresses import format_address, parse_address
from carteiro.mail.compose import check_header_value

MAX_CA_FILE_BYTES = 4 * 1024 * 1024


def check_sender(*, email: str, display_name: str | None) -> None:
    """The composer's own rules, so every message this account sends can be built: an
    address with an ASCII local part and a display name fit for a From header."""
    try:
        format_address(parse_address(email, field="email"), None)
    except InvalidInput as exc:
        raise InvalidInput(
            f"email: cannot be used as a sender address ({exc.message})", field="email"
        ) from None
    if display_name is not None:
        check_header_value("From", display_name, field="display_name")
        format_address(parse_address(email, field="email"), display_name, field="display_name")


def _is_anchor(cert: x509.Certificate) -> bool:
    """A CA certificate, or a self-signed one (a server's own certificate trusted as is)."""
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return True
    except x509.ExtensionNotFound:
        pass
    return cert.issuer == cert.subject


def check_ca_file(ca_file: str | None, *, field: str) -> None:
    """A readable PEM bundle with at least one CA certificate. Every failure (missing,
    unreadable, a key, a leaf certificate, garbage) gets the same message, so the check
    says nothing about which paths exist on the server."""
    if ca_file is None:
        return
    message = f"{field}: must be a readable PEM file of CA certificates"
    try:
        path = Path(ca_file)
        if path.stat().st_size > MAX_CA_FILE_BYTES:
            raise ValueError(message)
        data = path.read_bytes()
        # Loaded exactly as the transports will load it.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
        if not any(_is_anchor(c) for c in x509.load_pem_x509_certificates(data)):
            raise ValueError(message)
    except (OSError, ValueError, ssl.SSLError):
        raise InvalidInput(message, field=field) from None


def check_host(host: str | None, *, port: int, field: str, allow_private: bool) -> None:
    """With `allow_private` false, a host must resolve, and only to global addresses."""
    if allow_private or not host:
        return
    try:
        network.resolve_global(host, port)
    except network.Refused as exc:
        raise InvalidInput(
            f"{field}: not allowed: {exc} (CARTEIRO_ACCOUNTS_ALLOW_PRIVATE is false)",
            field=field,
        ) from None
