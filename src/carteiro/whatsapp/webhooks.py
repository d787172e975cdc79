"""Receiving provider webhooks: verification handshake, signature on the raw body, storage."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from carteiro.accounts.vault import Vault
from carteiro.errors import Forbidden, NotFound, Unauthorized
from carteiro.whatsapp import signature
from carteiro.whatsapp.models import WhatsAppNumber

MAX_BODY = 3 * 1024 * 1024  # Meta's payloads stay under 3 MB
# The Evolution gateway signs nothing: it sends this header, configured on its webhook.
EVOLUTION_TOKEN_HEADER = "X-Webhook-Token"


def find_number(session: Session, provider: str, number_id: int) -> WhatsAppNumber:
    number = session.get(WhatsAppNumber, number_id)
    if number is None or number.provider != provider:
        raise NotFound(f"no {provider} number {number_id}")
    return number


def challenge(
    session: Session,
    *,
    provider: str,
    number_id: int,
    mode: str | None,
    token: str | None,
    challenge: str | None,
    vault: Vault,
) -> str:
    """Meta's GET handshake: the challenge echoed when mode and verify token match (else 403)."""
    number = find_number(session, provider, number_id)
    expected = vault.decrypt(number.verify_token_enc) if number.verify_token_enc else None
    if mode != "subscribe" or expected is None or not signature.same_token(expected, token):
        raise Forbidden("verify token does not match", field="hub.verify_token")
    return challenge or ""


def verify(
    session: Session,
    *,
    provider: str,
    number_id: int,
    raw: bytes,
    headers: Mapping[str, str],
    vault: Vault,
) -> WhatsAppNumber:
    """Checks the body's signature (Cloud API) or token (Evolution) before anything reads it;
    returns the number it is for. 401 without a signature, 403 with a wrong one. Only reads:
    on SQLite it may run beside the writer."""
    number = find_number(session, provider, number_id)
    check(provider, secret_of(number, vault), raw, headers)
    return number


def secret_of(number: WhatsAppNumber, vault: Vault) -> str | None:
    """What signs the number's webhooks: the app secret (Cloud API) or the verify token
    (Evolution's header)."""
    stored = number.app_secret_enc if number.provider == "cloud" else number.verify_token_enc
    return vault.decrypt(stored) if stored else None


def check(provider: str, secret: str | None, raw: bytes, headers: Mapping[str, str]) -> None:
    """401 without the signature (or token) header, 403 when it does not match."""
    if provider == "cloud":
        header = headers.get(signature.HEADER)
        if not header:
            raise Unauthorized(f"missing {signature.HEADER}")
        if secret is None or not signature.verify(secret, raw, header):
            raise Forbidden(f"{signature.HEADER} does not match the body")
        return
    token = headers.get(EVOLUTION_TOKEN_HEADER)
    if not token:
        raise Unauthorized(f"missing {EVOLUTION_TOKEN_HEADER}")
    if secret is None or not signature.same_token(secret, token):
        raise Forbidden(f"{EVOLUTION_TOKEN_HEADER} does not match")


def matches(provider: str, secret: str | None, raw: bytes, headers: Mapping[str, str]) -> bool:
    try:
        check(provider, secret, raw, headers)
    except (Unauthorized, Forbidden):
        return False
    return True
