"""Settings: every name is documented in .env.example, and the example itself loads."""

from __future__ import annotations

import re
from pathlib import Path

from carteiro.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.M))
    names = {f.validation_alias.choices[0] for f in Settings.model_fields.values()}  # type: ignore[union-attr]
    assert names == documented
    for seed in (
        "GMAIL_EMAIL",
        "GMAIL_APP_PASSWORD",
        "EMAIL_MAX_RETRIES",
        "EMAIL_BATCH_SIZE",
        "EMAIL_RATE_LIMIT_PER_HOUR",
    ):
        assert seed in names


def test_env_example_loads_to_the_defaults() -> None:
    loaded = Settings(_env_file=str(ROOT / ".env.example"))
    assert loaded.email_max_retries == 3 and loaded.email_batch_size == 50
    assert loaded.email_rate_limit_per_hour == 100
    assert loaded.database_url.startswith("sqlite:///") and loaded.port == 8787
    assert not loaded.secret_key and not loaded.gmail_email


def test_environment_names_are_read(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EMAIL_RATE_LIMIT_PER_HOUR", "7")
    monkeypatch.setenv("CARTEIRO_DATABASE_URL", "postgresql://u@h/db")
    s = Settings(_env_file=None)
    assert s.email_rate_limit_per_hour == 7 and not s.is_sqlite
