"""Opens an uploaded file as rows: workbooks (xlsx, xlsm, xls, ods) with calamine, or CSV."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import python_calamine as calamine

from carteiro.errors import InvalidInput
from carteiro.leads.headers import normalise
from carteiro.leads.parse import MAX_CELL_CHARS

DEFAULT_SHEET = "Leads"
TEXT_EXTENSIONS = (".csv", ".txt", ".tsv")
WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
SNIFF_BYTES = 64 * 1024


def _fail(message: str) -> InvalidInput:
    return InvalidInput(message, field="file")


@dataclass
class Sheet:
    """Rows of one sheet: `rows` yields (1-based row number, cells) in order."""

    name: str | None
    format: str
    total_rows: int | None
    first_column: int
    rows: Iterator[tuple[int, Sequence[object]]]


def detect_format(head: bytes, filename: str) -> str:
    """'workbook' or 'csv' from the first bytes (and the name for text files)."""
    if not head:
        raise _fail("the file is empty")
    if head.startswith(WORKBOOK_MAGIC):
        return "workbook"
    sample = head[:SNIFF_BYTES]
    if b"\x00" in sample:
        raise _fail(
            "the file is not a spreadsheet: send an .xlsx, .xlsm, .xls or .ods workbook or a CSV"
        )
    if filename.lower().endswith(TEXT_EXTENSIONS) or _looks_like_text(sample):
        return "csv"
    raise _fail("the file is not a spreadsheet: send an .xlsx, .xlsm, .xls, .ods or .csv file")


_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 13)) + b"\x7f"


def _looks_like_text(sample: bytes) -> bool:
    """Text in any 8-bit encoding has (almost) no control bytes; binary formats have many."""
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    return controls <= len(sample) // 1000


def _pick_sheet(book: calamine.CalamineWorkbook, wanted: str | None) -> str:
    names = list(book.sheet_names)
    if not names:
        raise _fail("the workbook has no sheets")
    target = wanted or DEFAULT_SHEET
    for name in names:
        if name == target:
            return name
    for name in names:
        if normalise(name) == normalise(target):
            return name
    if wanted:
        listed = ", ".join(f"'{n}'" for n in names)
        raise InvalidInput(f"sheet '{wanted}' not found; the workbook has {listed}", field="sheet")
    visible = [
        m.name
        for m in book.sheets_metadata
        if m.typ == calamine.SheetTypeEnum.WorkSheet
        and m.visible == calamine.SheetVisibleEnum.Visible
    ]
    return visible[0] if visible else names[0]


def open_workbook(source: bytes | Path, sheet: str | None) -> Sheet:
    try:
        if isinstance(source, Path):
            book = calamine.CalamineWorkbook.from_path(str(source))
        else:
            book = calamine.CalamineWorkbook.from_filelike(io.BytesIO(source))
        name = _pick_sheet(book, sheet)
        data = book.get_sheet_by_name(name)
    except calamine.PasswordError:
        raise _fail("the workbook is password-protected; save it without a password") from None
    except (calamine.CalamineError, ValueError, OSError) as exc:
        raise _fail(f"the file is not a readable spreadsheet ({exc})") from None
    start = data.start
    end = data.end
    # calamine yields rows from the sheet's first row and columns from the first used one.
    total = end[0] + 1 if end is not None else 0
    first_column = start[1] if start is not None else 0

    def rows() -> Iterator[tuple[int, Sequence[object]]]:
        if start is None:
            return
        for index, row in enumerate(data.iter_rows()):
            yield index + 1, row

    return Sheet(name=name, format="xlsx", total_rows=total, first_column=first_column, rows=rows())


def _encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            # Spreadsheet programs on Windows export CSV in the ANSI code page.
            return "cp1252"
    return "utf-8"


def _delimiter(text_head: str) -> str:
    lines = [line for line in text_head.splitlines()[:20] if line.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in ",;\t|"}
        return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","


def open_csv(source: bytes | Path) -> Sheet:
    stream: IO[bytes] = source.open("rb") if isinstance(source, Path) else io.BytesIO(source)
    head = stream.read(SNIFF_BYTES)
    total, last = head.count(b"\n"), head[-1:]
    while chunk := stream.read(1 << 20):
        total, last = total + chunk.count(b"\n"), chunk[-1:]
    total += 0 if last in (b"\n", b"") else 1
    stream.seek(0)
    encoding = _encoding(head)
    delimiter = _delimiter(head.decode(encoding, errors="replace"))
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")

    def rows() -> Iterator[tuple[int, Sequence[object]]]:
        reader = csv.reader(text, delimiter=delimiter)
        previous = 0
        try:
            for row in reader:
                # Physical line numbers, so a quoted multi-line cell does not shift later rows.
                start, previous = previous + 1, reader.line_num
                yield start, list(row)
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise _fail(
                    f"row {previous + 1}: a cell of more than {csv.field_size_limit():,} "
                    f"characters; the limit is {MAX_CELL_CHARS:,}"
                ) from None
            raise _fail(f"the CSV cannot be read near line {previous + 1}: {exc}") from None
        finally:
            text.close()

    return Sheet(name=None, format="csv", total_rows=total, first_column=0, rows=rows())


def open_sheet(source: bytes | Path, *, filename: str, sheet: str | None) -> Sheet:
    """Detects the format from the content and opens the requested (or default) sheet."""
    if isinstance(source, Path):
        try:
            with source.open("rb") as fh:
                head = fh.read(SNIFF_BYTES)
        except FileNotFoundError:
            raise _fail(f"file not found: {source}") from None
        except OSError as exc:
            raise _fail(f"cannot read {source}: {exc.strerror or exc}") from None
    else:
        head = source[:SNIFF_BYTES]
    if detect_format(head, filename) == "workbook":
        return open_workbook(source, sheet)
    return open_csv(source)
