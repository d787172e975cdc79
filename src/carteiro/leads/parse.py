"""One sheet row → one staged lead (or nothing for a blank row), with per-cell errors."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from carteiro.errors import InvalidInput
from carteiro.leads import normalize as norm
from carteiro.leads.headers import ColumnMap, normalise

# Excel's own limit for one cell; anything larger is not a spreadsheet made by a person.
MAX_CELL_CHARS = 32_767
MAX_EXTERNAL_ID = 128
MAX_ERRORS = 500
MAX_ERROR_VALUE = 120
_PLACEHOLDERS = {
    "",
    "-",
    "--",
    "0",
    "x",
    "na",
    "n a",
    "nd",
    "n d",
    "none",
    "null",
    "nan",
    "nao",
    "nao tem",
    "nao possui",
    "nao informado",
    "sem",
    "sem email",
    "sem telefone",
    "sem contato",
    "nenhum",
    "vazio",
}
_MAX_PLACEHOLDER = max(len(p) for p in _PLACEHOLDERS) + 4
_DIGIT = re.compile(r"\d")


def is_placeholder(text: str) -> bool:
    """'-', 'N/A', 'não tem'… written where a value is missing (cheap test first)."""
    if len(text) > _MAX_PLACEHOLDER or (text != "0" and _DIGIT.search(text)):
        return False
    return normalise(text) in _PLACEHOLDERS


_WEAK_SPLIT = re.compile(r"\s{2,}|\s+-\s+|\s+(?:ou|or|e|and)\s+", re.IGNORECASE)


@dataclass
class ErrorLog:
    """Row errors: the first MAX_ERRORS kept for the job, all counted."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0

    def add(self, linha: int | None, coluna: str | None, valor: str | None, motivo: str) -> None:
        self.total += 1
        if len(self.items) < MAX_ERRORS:
            if valor is not None and len(valor) > MAX_ERROR_VALUE:
                valor = valor[:MAX_ERROR_VALUE] + "…"
            self.items.append({"linha": linha, "coluna": coluna, "valor": valor, "motivo": motivo})


@dataclass
class Parsed:
    """A row ready for staging: `lead` is the staged lead's columns, contacts in order."""

    externo: str
    lead: dict[str, Any]
    emails: list[str]
    phones: list[tuple[str, str, str]]


class RowParser:
    """Parses rows for one column map; keeps the error log."""

    def __init__(self, cmap: ColumnMap) -> None:
        self.cmap = cmap
        self.errors = ErrorLog()
        self.headers = cmap.headers
        doc_col = cmap.single.get("documento")
        self.doc_hint = (
            norm.document_hint(normalise(self.headers[doc_col])) if doc_col is not None else None
        )

    def _cell(self, cells: Sequence[object], col: int, linha: int) -> str:
        value = cells[col] if col < len(cells) else None
        text = norm.cell_text(value)
        if len(text) > MAX_CELL_CHARS:
            raise InvalidInput(
                f"row {linha}, column '{self.headers[col]}': a cell of {len(text):,} characters; "
                f"the limit is {MAX_CELL_CHARS:,} (Excel's own)",
                field="file",
            )
        return text

    def _emails(self, cells: Sequence[object], linha: int) -> tuple[list[str], list[str]]:
        found: list[str] = []
        raw: list[str] = []
        for col in self.cmap.emails:
            text = self._cell(cells, col, linha)
            if not text:
                continue
            raw.append(text)
            if "@" not in text:
                if not is_placeholder(text):
                    self.errors.add(linha, self.headers[col], text, "not an e-mail address")
                continue
            for token in norm.split_emails(text):
                if "@" not in token:
                    continue
                address = norm.normalise_email(token)
                if address is None:
                    self.errors.add(linha, self.headers[col], token, "invalid e-mail address")
                elif address not in found:
                    found.append(address)
        return found, raw

    def _phones(
        self, cells: Sequence[object], linha: int
    ) -> tuple[list[tuple[str, str, str]], list[str]]:
        found: dict[str, tuple[str, str, str]] = {}
        raw: list[str] = []
        for col, origin in self.cmap.phones:
            text = self._cell(cells, col, linha)
            if not text:
                continue
            raw.append(text)
            if is_placeholder(text):
                continue
            for token in norm.split_phones(text):
                if is_placeholder(token):
                    continue
                parsed = norm.normalise_phone(token)
                parts = [(token, parsed)]
                if parsed is None and _WEAK_SPLIT.search(token):
                    pieces = [p for p in _WEAK_SPLIT.split(token) if p and p.strip()]
                    tried = [(p, norm.normalise_phone(p)) for p in pieces]
                    if any(r is not None for _, r in tried):
                        parts = tried
                for piece, result in parts:
                    if result is None:
                        self.errors.add(linha, self.headers[col], piece, "invalid phone number")
                    elif result[0] not in found:
                        found[result[0]] = (result[0], result[1], origin)
        # Mobiles first: the first phone becomes the lead's main one (WhatsApp needs a mobile).
        ordered = sorted(found.values(), key=lambda p: p[1] != "mobile")
        return ordered, raw

    def _document(self, cells: Sequence[object], linha: int) -> dict[str, Any]:
        col = self.cmap.single.get("documento")
        text = self._cell(cells, col, linha) if col is not None else ""
        if not text or is_placeholder(text):
            return {
                "documento": None,
                "documento_tipo": None,
                "documento_valido": None,
                "documento_raw": text or None,
            }
        result = norm.normalise_document(text, hint=self.doc_hint)
        if result is None:
            assert col is not None
            self.errors.add(linha, self.headers[col], text, "invalid CNPJ/CPF (check digits)")
            digits = re.sub(r"\D+", "", text)[:64]
            return {
                "documento": digits or None,
                "documento_tipo": None,
                "documento_valido": False,
                "documento_raw": text,
            }
        return {
            "documento": result[0],
            "documento_tipo": result[1],
            "documento_valido": True,
            "documento_raw": text,
        }

    def _text(self, cells: Sequence[object], name: str, linha: int) -> str | None:
        col = self.cmap.single.get(name)
        return norm.clean_text(self._cell(cells, col, linha)) if col is not None else None

    def parse(self, cells: Sequence[object], linha: int) -> Parsed | None:
        """The staged lead for a row, or None when the row holds nothing mapped."""
        nome = self._text(cells, "nome", linha)
        contato = self._text(cells, "contato_nome", linha)
        doc = self._document(cells, linha)
        emails, email_raw = self._emails(cells, linha)
        phones, phone_raw = self._phones(cells, linha)
        if not (nome or contato or doc["documento_raw"] or email_raw or phone_raw):
            return None
        lead = {
            "linha_planilha": linha,
            "nome": nome,
            "contato_nome": contato,
            **doc,
            "email_raw": "\n".join(email_raw) or None,
            "telefone_raw": "\n".join(phone_raw) or None,
        }
        externo = self._external_id(cells, linha)
        if externo is None:
            externo = identity(lead, emails, [p[0] for p in phones])
        lead["lead_id_externo"] = externo
        return Parsed(externo=externo, lead=lead, emails=emails, phones=phones)

    def _external_id(self, cells: Sequence[object], linha: int) -> str | None:
        col = self.cmap.single.get("lead_id_externo")
        if col is None:
            return None
        text = norm.clean_text(self._cell(cells, col, linha))
        if text and len(text) > MAX_EXTERNAL_ID:
            self.errors.add(
                linha,
                self.headers[col],
                text,
                f"id longer than {MAX_EXTERNAL_ID} characters: the row's content identifies it",
            )
            return None
        return text


def identity(lead: dict[str, Any], emails: list[str], phones: list[str]) -> str:
    """A stable id for a row without an id column: a hash of what identifies the lead."""
    doc = (
        lead["documento"] if lead["documento_valido"] else norm.identity_text(lead["documento_raw"])
    )
    parts = [
        norm.identity_text(lead["nome"]),
        norm.identity_text(lead["contato_nome"]),
        doc or "",
        ",".join(sorted(emails)) or norm.identity_text(lead["email_raw"]),
        ",".join(sorted(phones)) or norm.identity_text(lead["telefone_raw"]),
    ]
    return "h:" + hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()
