"""Applies and inspects Alembic migrations from code (`carteiro migrate`, `serve`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
# Search structures no model can describe (FTS5 virtual tables with their shadow tables,
# trigram GIN indexes): made by migrations only, left out when models and schema are compared.
FTS_SUFFIXES = ("_fts", "_fts_data", "_fts_idx", "_fts_content", "_fts_docsize", "_fts_config")
TRIGRAM_SUFFIX = "_trgm"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name` hook: False for the migration-only search objects."""
    if name is None:
        return True
    if type_ == "table":
        return not name.endswith(FTS_SUFFIXES)
    if type_ == "index":
        return not name.endswith(TRIGRAM_SUFFIX)
    return True


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> None:
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_heads(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def script_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def is_up_to_date(engine: Engine) -> bool:
    """True when the database has every migration this code knows."""
    return current_heads(engine) == script_heads()


def current_revision(engine: Engine) -> str | None:
    """The applied revision(s), joined for display; None on an empty database."""
    heads = current_heads(engine)
    return ", ".join(sorted(heads)) if heads else None


def head_revision() -> str | None:
    """The newest revision(s) this code ships, joined like `current_revision`."""
    heads = script_heads()
    return ", ".join(sorted(heads)) if heads else None
