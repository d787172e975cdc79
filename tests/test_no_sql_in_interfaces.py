"""The interfaces (api, mcp, cli, web) hold no SQL: they import nothing that builds a statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import carteiro

ROOT = Path(carteiro.__file__).parent
INTERFACES = ("api", "mcp", "cli", "web")
# What an interface may take from SQLAlchemy: the session type it passes to services, the
# errors it renders, URL parsing for messages. Everything else builds or runs SQL.
ALLOWED = {"sqlalchemy.orm": {"Session"}, "sqlalchemy.engine": {"make_url"}, "sqlalchemy.exc": None}
# Methods that run SQL on a session or connection.
RUNS_SQL = {"execute", "scalar", "scalars", "query", "exec_driver_sql"}
# The ORM's own reads and writes, on whatever an interface names its session.
SESSIONS = {"session", "conn", "connection"}
ORM_CALLS = {"get", "get_one", "add", "add_all", "delete", "flush", "merge", "refresh"}


def _files() -> list[Path]:
    return sorted(p for name in INTERFACES for p in (ROOT / name).rglob("*.py"))


def _problems(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [
                f"import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            allowed = ALLOWED.get(node.module or "", set())
            if allowed is not None:
                found += [
                    f"from {node.module} import {a.name}"
                    for a in node.names
                    if a.name not in allowed
                ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNS_SQL
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}(…)")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in SESSIONS
            and node.func.attr in ORM_CALLS
        ):
            found.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}(…)")
    return found


def test_the_check_sees_every_interface() -> None:
    assert {p.relative_to(ROOT).parts[0] for p in _files()} >= {"api", "mcp", "cli"}


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_interface_module_holds_no_sql(path: Path) -> None:
    problems = _problems(path)
    assert not problems, f"{path.relative_to(ROOT)} builds or runs SQL: " + "; ".join(problems)
