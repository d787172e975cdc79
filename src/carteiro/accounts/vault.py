"""Encrypts stored credentials with a key from CARTEIRO_SECRET_KEY or a 0600 file in DATA_DIR."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from carteiro.errors import Unavailable
from carteiro.files import private_dir

KEY_FILE = "secret.key"


def _fernet_key(secret: str) -> bytes:
    # Any string works as CARTEIRO_SECRET_KEY; Fernet needs 32 url-safe base64 bytes.
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


def load_or_create_secret(data_dir: Path) -> str:
    """The secret kept in DATA_DIR, created once with owner-only permissions."""
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    private_dir(data_dir)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret


@lru_cache(maxsize=8)
def vault_for(secret_key: str | None, data_dir: str) -> Vault:
    """One vault per key source, for code that has settings but no runtime at hand."""
    return Vault.from_settings(secret_key=secret_key, data_dir=Path(data_dir))


class Vault:
    """Symmetric encryption of passwords at rest (Fernet: AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(_fernet_key(secret))

    @classmethod
    def from_settings(cls, *, secret_key: str | None, data_dir: Path) -> Vault:
        return cls(secret_key or load_or_create_secret(data_dir))

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise Unavailable(
                "a stored password cannot be decrypted: CARTEIRO_SECRET_KEY differs from the "
                "key it was saved with (every node must share the same key)"
            ) from None
