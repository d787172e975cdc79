"""Imports every domain's `models` module so that `Base.metadata` knows all tables."""

from __future__ import annotations

import importlib
import pkgutil

import carteiro
from carteiro.db import leases  # noqa: F401  (scheduler_leases lives beside the leader lock)
from carteiro.db.base import Base

# Each domain package keeps its tables in `<domain>/models.py`; finding them here means a new
# domain needs no edit to a shared list.
for _info in pkgutil.iter_modules(carteiro.__path__):
    if _info.ispkg and _info.name not in {"db", "api", "cli", "mcp", "web", "testing"}:
        try:
            importlib.import_module(f"carteiro.{_info.name}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"carteiro.{_info.name}.models":
                raise

__all__ = ["Base"]
