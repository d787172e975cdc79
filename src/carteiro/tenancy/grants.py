"""Whether one key's rights contain another's: allow-list patterns and hourly limits."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

_GLOB = frozenset("*?[")


def _split(pattern: str) -> tuple[str, str]:
    pattern = pattern.strip().lower()
    if "@" not in pattern:
        pattern = f"*@{pattern}"
    local, _, domain = pattern.partition("@")
    return local, domain


def _part_within(child: str, parent: str) -> bool:
    """Whether every string the glob `child` matches is matched by the glob `parent`.

    Sound but not complete: exact equality, a parent of `*`, a literal child the parent
    matches, or a parent `*suffix` whose literal suffix ends the child.
    """
    if parent == "*" or child == parent:
        return True
    if not _GLOB & set(child):
        return fnmatchcase(child, parent)
    suffix = parent[1:]
    return parent.startswith("*") and not _GLOB & set(suffix) and child.endswith(suffix)


def pattern_within(child: str, parent: str) -> bool:
    """Whether allow-list pattern `child` admits only addresses `parent` admits."""
    child_local, child_domain = _split(child)
    parent_local, parent_domain = _split(parent)
    if child.count("@") > 1 or parent.count("@") > 1:
        return False
    return _part_within(child_local, parent_local) and _part_within(child_domain, parent_domain)


def recipients_within(child: Sequence[str] | None, parent: Sequence[str] | None) -> bool:
    """None is "anyone"; a list admits the addresses one of its patterns matches."""
    if parent is None:
        return True
    if child is None:
        return False
    return all(any(pattern_within(c, p) for p in parent) for c in child)


def hourly_limit(own: int | None, default: int) -> float:
    """A key's effective limit per hour, with unlimited as infinity (None: the default)."""
    value = default if own is None else own
    return float("inf") if value == 0 else float(value)
