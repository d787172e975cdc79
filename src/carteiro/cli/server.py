"""Long-running processes and schema: `carteiro serve`, `carteiro worker`, `carteiro migrate`."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import typer

from carteiro import interpreter, wiring
from carteiro.accounts import service as accounts
from carteiro.cli.common import (
    check_schema,
    fail,
    load_settings,
    open_runtime,
    out,
    safe_url,
    setup_logging,
)
from carteiro.config import Settings
from carteiro.db import migrate as migrations
from carteiro.leads.unsubscribe import public_url_problem
from carteiro.runtime import Runtime

if TYPE_CHECKING:
    import uvicorn

app = typer.Typer()
log = logging.getLogger("carteiro.cli")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
UVICORN_LEVELS = {"critical", "error", "warning", "info", "debug", "trace"}


def _warn_public_url(settings: Settings) -> None:
    problem = public_url_problem(settings)
    if problem:
        log.warning("%s", problem)


def console_base(settings: Settings, host: str, port: int) -> str:
    """Where people reach the console: CARTEIRO_PUBLIC_URL, else the listener."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _has_accounts(runtime: Runtime) -> bool:
    with runtime.db.session() as session:
        return accounts.exists(session)


@app.command()
def serve(
    host: str | None = typer.Option(
        None, "--host", help="Interface to listen on (default: CARTEIRO_HOST, 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port to listen on (default: CARTEIRO_PORT, 8787)."
    ),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Serve HTTP only; run `carteiro worker` processes separately."
    ),
) -> None:
    """Run the REST API, web UI, MCP over HTTP at /mcp, the worker and the scheduler."""
    import uvicorn

    settings = load_settings()
    setup_logging(settings.log_level, json_lines=settings.log_format == "json")
    host = host or settings.host
    port = port or settings.port
    # The MCP endpoint's Host check reads the listener from settings.
    settings = settings.model_copy(update={"host": host, "port": port})
    _warn_public_url(settings)
    runtime = wiring.runtime(settings)
    try:
        runtime.migrate()
        key = runtime.bootstrap()
        if key is not None:
            # Plain print: scripts read this exact line, and it must reach a pipe at once.
            print(f"API key: {key}", flush=True)
            out.print("[dim]Shown once: only its hash is stored. Keep it somewhere safe.[/dim]")
        setup_token = runtime.setup_token()
        if setup_token is not None:
            # Printed on every start until the owner exists; each start makes a new token and
            # the older links stop working.
            print(f"Setup: {console_base(settings, host, port)}/setup/{setup_token}", flush=True)
            out.print("[dim]Open it to create the owner of the web console (one use).[/dim]")
        if not _has_accounts(runtime):
            out.print(
                "[dim]No sending account yet: messages are captured locally, nothing leaves "
                "this machine (add one with `carteiro accounts add`).[/dim]"
            )

        from carteiro.api.app import create_app

        api = create_app(runtime, run_worker=not no_worker)
        level = settings.log_level.lower()
        server = uvicorn.Server(
            uvicorn.Config(
                api,
                host=host,
                port=port,
                log_level=level if level in UVICORN_LEVELS else "info",
            )
        )
        shown = f"[{host}]" if ":" in host else host
        worker_note = "no worker" if no_worker else "with worker"
        out.print(
            f"Carteiro listening on http://{shown}:{port} ({worker_note}; "
            f"web console at /, API docs at /docs, MCP at /mcp)",
            markup=False,
        )
        out.file.flush()
        interpreter.tune()
        received = _run_until_signal(server)
        if not server.started and not received:
            fail(f"the server did not start on {host}:{port}; see the log above")
    finally:
        runtime.db.dispose()


def _run_until_signal(server: uvicorn.Server) -> list[int]:
    """Runs uvicorn; returns the stop signals received.

    Uvicorn re-raises the signal that stopped it once it has shut down, which would kill the
    process with that signal instead of exiting 0 after a clean shutdown; our handlers, which
    uvicorn restores before re-raising, absorb it (and cover the moment before uvicorn's own
    handlers are installed).
    """
    received: list[int] = []

    def _request_exit(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        server.should_exit = True

    previous = {sig: signal.signal(sig, _request_exit) for sig in STOP_SIGNALS}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silences a logger's INFO lines for a moment (Alembic announces every context it opens)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


async def _run_worker(runtime: Runtime, concurrency: int | None) -> None:
    from carteiro import background

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def _stop(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.info("received %s: finishing in-flight messages, then stopping", sig.name)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, _stop, sig)
    try:
        await background.run_all(runtime, stop, concurrency=concurrency)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


@app.command()
def worker(
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        min=1,
        max=1000,
        help="SMTP connections held at once, across accounts "
        "(default: CARTEIRO_WORKER_CONCURRENCY, 50).",
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=1, max=65535, help="Expose Prometheus metrics on this port."
    ),
    metrics_host: str | None = typer.Option(
        None, "--metrics-host", help="Interface for --metrics-port (default: CARTEIRO_HOST)."
    ),
) -> None:
    """Run a worker process only; many may share one PostgreSQL database.

    It does not migrate: run `carteiro migrate` (or `carteiro serve`) first.
    """
    settings = load_settings()
    setup_logging(settings.log_level, json_lines=settings.log_format == "json")
    _warn_public_url(settings)
    with open_runtime(require_schema=False) as runtime:
        with _quiet("alembic"):
            check_schema(runtime)
        if metrics_port is not None:
            from prometheus_client import start_http_server

            addr = metrics_host or settings.host
            try:
                start_http_server(metrics_port, addr=addr)
            except OSError as exc:
                fail(f"cannot serve metrics on {addr}:{metrics_port}: {exc.strerror or exc}")
            log.info("metrics at http://%s:%d/metrics", addr, metrics_port)
        log.info(
            "carteiro worker starting against %s (concurrency %d)",
            safe_url(settings.database_url),
            concurrency or settings.worker_concurrency,
        )
        asyncio.run(_run_worker(runtime, concurrency))
        log.info("carteiro worker stopped")


@app.command("migrate")
def migrate_command() -> None:
    """Apply database migrations up to this version's schema."""
    with open_runtime(require_schema=False) as runtime:
        before = migrations.current_revision(runtime.db.engine)
        runtime.migrate()
        after = migrations.current_revision(runtime.db.engine)
        where = safe_url(runtime.settings.database_url)
        if before == after:
            out.print(f"database {where} already at revision {after}", markup=False)
        else:
            was = before or "empty"
            out.print(f"database {where} migrated to revision {after} (was {was})", markup=False)
