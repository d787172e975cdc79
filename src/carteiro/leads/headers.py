"""Finds the header row of a sheet and maps its columns to lead fields (Portuguese or English)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from carteiro.errors import InvalidInput

FIELDS = ("lead_id_externo", "nome", "contato_nome", "documento", "email", "telefone")
MULTI = {"email", "telefone"}
# Headers are looked for in the first rows only: title blocks above the table are short.
HEADER_SCAN_ROWS = 30
MAX_HEADER_WORDS = 5

_EMAIL = {"email", "emails", "mail", "mails", "correio"}
# Root word → the tipo_origem recorded on the phone.
_PHONE = {
    "telefone": "telefone",
    "telefones": "telefone",
    "tel": "telefone",
    "tels": "telefone",
    "fone": "telefone",
    "fones": "telefone",
    "phone": "telefone",
    "phones": "telefone",
    "telephone": "telefone",
    "fixo": "telefone",
    "celular": "celular",
    "celulares": "celular",
    "cel": "celular",
    "mobile": "celular",
    "movel": "celular",
    "whatsapp": "whatsapp",
    "whats": "whatsapp",
    "wpp": "whatsapp",
    "zap": "whatsapp",
}
_DOC = {"documento", "documentos", "doc", "cnpj", "cpf", "cnpjcpf", "cpfcnpj", "document"}
_CONTACT = {"contato", "contatos", "responsavel", "contact", "representante", "interlocutor"}
_ID_NAMES = {
    "id",
    "codigo",
    "cod",
    "external id",
    "externalid",
    "id externo",
    "lead id",
    "id lead",
    "id do lead",
    "lead id externo",
    "codigo do lead",
    "codigo lead",
    "codigo cliente",
    "codigo do cliente",
    "id cliente",
    "id do cliente",
    "ref",
    "referencia",
}
_NAME = {
    "nome",
    "name",
    "empresa",
    "razao",
    "company",
    "fantasia",
    "cliente",
    "organizacao",
    "organization",
    "estabelecimento",
}
_PARENS_S = re.compile(r"\((s|es)\)")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise(header: object) -> str:
    """Lower-case words without accents: 'E-mail(s) Principal' → 'emails principal'."""
    text = str(header or "").strip()
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = _PARENS_S.sub(r"\1", text)
    text = re.sub(r"\be[\s_-]?(mail)", r"\1", text)
    return _NON_ALNUM.sub(" ", text).strip()


def classify(header: object) -> tuple[str, str | None] | None:
    """The lead field a header names (and the phone kind), or None."""
    norm = normalise(header)
    if not norm:
        return None
    words = norm.split()
    if len(words) > MAX_HEADER_WORDS:
        return None
    # Strip trailing ordinals ('email 2', 'telefone2') before matching.
    stems = {re.sub(r"\d+$", "", w) for w in words} - {""}
    if stems & _EMAIL:
        return "email", None
    for word in words:
        root = re.sub(r"\d+$", "", word)
        if root in _PHONE:
            return "telefone", _PHONE[root]
    if stems & _DOC:
        return "documento", None
    if stems & _CONTACT:
        return "contato_nome", None
    if norm in _ID_NAMES or re.sub(r"\d+$", "", norm).strip() in _ID_NAMES:
        return "lead_id_externo", None
    if stems & _NAME or "razao social" in norm:
        return "nome", None
    return None


@dataclass
class ColumnMap:
    """Where each field is in a row (0-based indexes into the row) and the header texts."""

    header_index: int
    headers: list[str]
    single: dict[str, int] = field(default_factory=dict)
    emails: list[int] = field(default_factory=list)
    phones: list[tuple[int, str]] = field(default_factory=list)

    def mapped(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {k: [self.headers[i]] for k, i in self.single.items()}
        if self.emails:
            out["email"] = [self.headers[i] for i in self.emails]
        if self.phones:
            out["telefone"] = [self.headers[i] for i, _ in self.phones]
        return out

    @property
    def has_content(self) -> bool:
        return bool(self.emails or self.phones or {"nome", "documento"} & set(self.single))


def _auto(header_index: int, headers: list[str], skip: set[int]) -> ColumnMap:
    cmap = ColumnMap(header_index=header_index, headers=headers)
    for i, text in enumerate(headers):
        if i in skip:
            continue
        found = classify(text)
        if found is None:
            continue
        name, kind = found
        if name == "email":
            cmap.emails.append(i)
        elif name == "telefone":
            cmap.phones.append((i, kind or "telefone"))
        else:
            cmap.single.setdefault(name, i)
    return cmap


def _score(cmap: ColumnMap) -> int:
    return len(cmap.single) + len(cmap.emails) + len(cmap.phones)


def validate_mapping(mapping: Mapping[str, object] | None) -> dict[str, list[str]]:
    """An explicit mapping: field → header text (or a list for e-mail/telefone); '' ignores."""
    if not mapping:
        return {}
    out: dict[str, list[str]] = {}
    for key, value in mapping.items():
        if key not in FIELDS:
            raise InvalidInput(
                f"mapping: unknown field '{key}'; known: {', '.join(FIELDS)}", field="mapping"
            )
        values = value if isinstance(value, list) else [value]
        if any(v is not None and not isinstance(v, str) for v in values):
            raise InvalidInput(f"mapping.{key}: give header names as text", field="mapping")
        names = [v for v in values if isinstance(v, str) and v]
        if len(names) > 1 and key not in MULTI:
            raise InvalidInput(f"mapping.{key}: only one column can be mapped", field="mapping")
        out[key] = names
    return out


def _explicit(
    header_index: int, headers: list[str], mapping: dict[str, list[str]]
) -> ColumnMap | None:
    """Applies the explicit part of a mapping; None when a named header is not in this row."""
    index = {normalise(h): i for i, h in reversed(list(enumerate(headers))) if normalise(h)}
    positions: dict[str, list[int]] = {}
    for key, names in mapping.items():
        cols = []
        for name in names:
            col = index.get(normalise(name))
            if col is None:
                return None
            cols.append(col)
        positions[key] = cols
    taken = {c for cols in positions.values() for c in cols}
    cmap = _auto(header_index, headers, taken)
    for key, cols in positions.items():
        if key == "email":
            cmap.emails = cols
        elif key == "telefone":
            cmap.phones = [
                (c, (classify(headers[c]) or ("", "telefone"))[1] or "telefone") for c in cols
            ]
        else:
            cmap.single.pop(key, None)
            if cols:
                cmap.single[key] = cols[0]
    return cmap


def find_header(rows: Sequence[tuple[int, list[str]]], mapping: dict[str, list[str]]) -> ColumnMap:
    """The best header among the first rows: the one naming the most known columns.

    `rows` are (index, header texts) pairs. Raises InvalidInput when none qualifies.
    """
    best: ColumnMap | None = None
    for index, headers in rows[:HEADER_SCAN_ROWS]:
        if mapping:
            cmap = _explicit(index, headers, mapping)
            if cmap is not None:
                return cmap
            continue
        cmap = _auto(index, headers, set())
        if cmap.has_content and (best is None or _score(cmap) > _score(best)):
            best = cmap
    if best is not None:
        return best
    if mapping:
        wanted = ", ".join(f"'{n}'" for names in mapping.values() for n in names)
        raise InvalidInput(
            f"no row among the first {HEADER_SCAN_ROWS} has the mapped column(s) {wanted}",
            field="mapping",
        )
    raise InvalidInput(
        "no recognisable header row: the first rows must name at least one of the columns "
        "nome/empresa/razão social, documento/CNPJ/CPF, e-mail or telefone/celular/whatsapp "
        "(or pass an explicit mapping)",
        field="file",
    )
