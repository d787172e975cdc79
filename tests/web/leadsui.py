"""Helpers of the leads, imports, suppressions, webhooks and keys page tests."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from fastapi.testclient import TestClient
from webkit import csrf_of

HEADER = ["Razão Social", "Responsável", "CNPJ", "E-mail", "Telefone"]


def post(client: TestClient, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """A console form post carrying the CSRF token, without following the redirect."""
    return client.post(
        url, data={**(data or {}), "csrf_token": csrf_of(client)}, follow_redirects=False, **kw
    )


def xlsx(rows: list[list[Any]], *, sheet: str = "Leads") -> bytes:
    """A workbook with `rows` (the first one the headers) on one sheet."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet
    for row in rows:
        ws.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
