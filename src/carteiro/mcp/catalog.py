"""Which tools a caller sees: the scopes each tool needs, and presets that trim the catalogue.

A tool's scopes are read from its own code, so tools added by any module take part without
declaring anything: every `scopes.X` constant (or a module constant of the same name) that the
tool function or the functions it defines or closes over refer to. Listing is a convenience;
each call still checks its scope in `ToolRunner.run`, so a tool whose scopes cannot be read is
listed, never made callable by it.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any

from mcp_types import Tool as MCPTool

from carteiro.errors import InvalidInput
from carteiro.tenancy import scopes
from carteiro.tenancy.service import Principal

_SCOPE_NAMES = {
    name: value
    for name, value in vars(scopes).items()
    if name.isupper() and isinstance(value, str) and value in scopes.ALL_SCOPES
}

# Presets name groups of tools by what an agent is for; "all" is everything the key may use.
PRESETS: dict[str, Callable[[MCPTool, frozenset[str]], bool]] = {
    "all": lambda tool, needs: True,
    "read": lambda tool, needs: bool(tool.annotations and tool.annotations.read_only_hint),
    "send": lambda tool, needs: bool(
        needs & {scopes.EMAILS_SEND, scopes.EMAILS_READ, scopes.EMAILS_MANAGE}
    ),
    "inbox": lambda tool, needs: bool(needs & {scopes.INBOX_READ, scopes.INBOX_WRITE}),
    "leads": lambda tool, needs: bool(needs & {scopes.LEADS_READ, scopes.LEADS_WRITE}),
}


def _names(code: types.CodeType, seen: set[int]) -> Iterable[str]:
    if id(code) in seen:
        return
    seen.add(id(code))
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const, seen)


def scopes_of(fn: Callable[..., Any]) -> frozenset[str]:
    """The scopes `fn` refers to, looking into nested and enclosing helper functions."""
    found: set[str] = set()
    seen: set[int] = set()
    pending: list[Callable[..., Any]] = [fn]
    visited: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        code = getattr(current, "__code__", None)
        if code is None:
            continue
        found.update(_SCOPE_NAMES[n] for n in _names(code, seen) if n in _SCOPE_NAMES)
        for cell in getattr(current, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if isinstance(value, types.FunctionType):
                pending.append(value)
    return frozenset(found)


def parse_preset(value: str | None, known_tools: Iterable[str]) -> frozenset[str] | None:
    """Preset names and tool names, comma-separated; None for everything."""
    if value is None or not value.strip():
        return None
    names = set(known_tools)
    parts = [p.strip().lower() for p in value.split(",") if p.strip()]
    for part in parts:
        if part not in PRESETS and part not in names:
            raise InvalidInput(
                f"tools: unknown preset or tool '{part}' (presets: {', '.join(PRESETS)})",
                field="tools",
            )
    return None if "all" in parts else frozenset(parts)


def visible(
    tools: list[MCPTool],
    needs: dict[str, frozenset[str]],
    principal: Principal | None,
    preset: frozenset[str] | None,
) -> list[MCPTool]:
    """The tools `principal` may call, narrowed to `preset` (presets and tool names)."""
    shown = []
    for tool in tools:
        required = needs.get(tool.name, frozenset())
        if principal is not None and not all(principal.has(s) for s in required):
            continue
        if preset is not None and not any(
            part == tool.name or (part in PRESETS and PRESETS[part](tool, required))
            for part in preset
        ):
            continue
        shown.append(tool)
    return shown
