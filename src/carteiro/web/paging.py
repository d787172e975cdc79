"""Offset pages for console lists, with previous/next links that keep the URL's filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Request

T = TypeVar("T")
PAGE_SIZE = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int
    prev_url: str | None
    next_url: str | None


def _url(request: Request, offset: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "offset" and v != ""]
    if offset:
        params.append(("offset", str(offset)))
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def page_of(
    request: Request, items: Sequence[T], *, total: int, limit: int, offset: int
) -> Page[T]:
    prev_url = _url(request, max(0, offset - limit)) if offset > 0 else None
    next_url = _url(request, offset + limit) if offset + limit < total else None
    return Page(items, total, limit, offset, prev_url, next_url)
