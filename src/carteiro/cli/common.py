"""Shared CLI plumbing: consoles, runtime opening, logging and one-line error reporting."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.core import TyperGroup

from carteiro import wiring
from carteiro.config import Settings, get_settings
from carteiro.db import migrate
from carteiro.errors import CarteiroError
from carteiro.logjson import JsonFormatter
from carteiro.runtime import Runtime
from carteiro.tenancy import service as tenancy
from carteiro.tenancy.service import Principal

# Consoles resolve sys.stdout/sys.stderr at print time, so test runners that swap them still work.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A failure to report as one line and exit 1; raised by commands for their own checks."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        # An unparsable URL is reported as is, minus anything that looks like credentials.
        return url.split("@")[-1]


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))


def _schema_missing(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def describe(exc: BaseException) -> str | None:
    """The one-line message for an error users can act on; None for genuine bugs."""
    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, CarteiroError):
        return exc.message
    if isinstance(exc, ValidationError):
        return f"invalid {_validation_message(exc)}"
    if isinstance(exc, OperationalError | ProgrammingError):
        if _schema_missing(exc):
            return "the database is not migrated: run carteiro migrate first"
        if isinstance(exc, OperationalError):
            try:
                url = safe_url(get_settings().database_url)
            except ValidationError:
                url = "CARTEIRO_DATABASE_URL"
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()
            return f"cannot reach the database at {url}" + (f": {reason[0]}" if reason else "")
    return None


def print_error(message: str) -> None:
    err.print(Text(f"error: {message}", style="red"))


class CarteiroGroup(TyperGroup):
    """The root group: turns domain, validation and database errors into one red line, exit 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (
            CliError,
            CarteiroError,
            ValidationError,
            OperationalError,
            ProgrammingError,
        ) as exc:
            message = describe(exc)
            if message is None:
                raise
            print_error(message)
            raise typer.Exit(1) from None


def load_settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        fail(f"invalid configuration: {_validation_message(exc)}")


def setup_logging(level: str, *, default: str = "INFO", json_lines: bool = False) -> None:
    """Logs to stderr only, so stdout stays clean for keys, ids and MCP traffic; one JSON
    object per line with `json_lines` (CARTEIRO_LOG_FORMAT=json)."""
    resolved = logging.getLevelName(level.upper())
    if not isinstance(resolved, int):
        resolved = logging.getLevelName(default)
    # No force: a host that already configured logging (a test runner, an embedding app) wins.
    logging.basicConfig(
        stream=sys.stderr,
        level=resolved,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if json_lines:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())


def check_schema(runtime: Runtime) -> None:
    """Refuses to run against a database whose schema is not the one this version expects."""
    current = migrate.current_revision(runtime.db.engine)
    head = migrate.head_revision()
    if current == head:
        return
    if current is None:
        fail("the database is not migrated: run carteiro migrate first")
    fail(
        f"the database schema is at revision {current} but this version expects {head}: "
        "run carteiro migrate first"
    )


@contextmanager
def open_runtime(*, require_schema: bool = True) -> Iterator[Runtime]:
    """A runtime for one command; its connections are closed when the command ends."""
    runtime = wiring.runtime(load_settings())
    try:
        if require_schema:
            check_schema(runtime)
        yield runtime
    finally:
        runtime.db.dispose()


def local_principal(runtime: Runtime, tenant: str | None) -> Principal:
    try:
        return runtime.local_principal(tenant)
    except CarteiroError as exc:
        if exc.status == 401 and tenant is None:
            fail(f"CARTEIRO_API_KEY is not usable: {exc.message}")
        if tenant in (None, tenancy.DEFAULT_TENANT) and exc.status == 404:
            fail(
                "the default tenant does not exist yet: start carteiro serve once "
                "(it prints the first API key) or run carteiro keys create"
            )
        raise


def tenant_id_for(runtime: Runtime, tenant: str | None) -> int:
    """The tenant an admin command acts on: --tenant, else the CLI's principal's tenant."""
    return local_principal(runtime, tenant).tenant_id


TENANT_HELP = "Tenant slug (default: the tenant of CARTEIRO_API_KEY, else 'default')."
