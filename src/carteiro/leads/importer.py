"""The import: parse a sheet in chunks into staging tables, then merge it in one transaction.

Staging keeps every write short (one small transaction per chunk, with the job's progress), so a
large import never holds SQLite's single write lock for long and its progress is visible; the
final merge is set-based SQL, so the job's leads appear all at once or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, insert
from sqlalchemy.orm import Session

from carteiro.db.base import table_of
from carteiro.db.engine import Database
from carteiro.errors import InvalidInput
from carteiro.leads import merge
from carteiro.leads.headers import HEADER_SCAN_ROWS, find_header, validate_mapping
from carteiro.leads.models import IngestStageContact, IngestStageLead
from carteiro.leads.normalize import cell_text
from carteiro.leads.parse import ErrorLog, RowParser
from carteiro.leads.reader import open_sheet

CHUNK_ROWS = 2_000
# Excel's row limit; CSV files are held to the same.
MAX_ROWS = 1_048_576


class Interrupted(Exception):
    """The worker is stopping: the job goes back to the queue untouched."""


@dataclass
class ImportSpec:
    job_id: int
    tenant_id: int
    filename: str
    sheet: str | None = None
    mapping: dict[str, Any] | None = None


@dataclass
class Progress:
    """Counters of one import; the job row mirrors them."""

    linhas_total: int | None = None
    linhas_processadas: int = 0
    linhas_vazias: int = 0
    linhas_duplicadas: int = 0
    leads_criados: int = 0
    leads_atualizados: int = 0
    telefones_criados: int = 0
    emails_criados: int = 0
    aba: str | None = None
    formato: str | None = None
    errors: ErrorLog = field(default_factory=ErrorLog)
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


Checkpoint = Callable[[Session, Progress], None]
"""Runs inside every staging transaction (progress, lease renewal); may raise to abort."""


def _chunks(
    rows: Iterator[tuple[int, Sequence[object]]],
) -> Iterator[list[tuple[int, Sequence[object]]]]:
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield chunk


def _stage_chunk(
    parser: RowParser,
    chunk: list[tuple[int, Sequence[object]]],
    *,
    spec: ImportSpec,
    seen: set[str],
    progress: Progress,
    seq: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    leads: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    for linha, cells in chunk:
        seq += 1
        progress.linhas_processadas += 1
        parsed = parser.parse(cells, linha)
        if parsed is None:
            progress.linhas_vazias += 1
            continue
        if parsed.externo in seen:
            # First occurrence wins for the lead's fields; later ones may add contacts.
            progress.linhas_duplicadas += 1
        else:
            seen.add(parsed.externo)
            leads.append({"job_id": spec.job_id, "seq": seq, **parsed.lead})
        pos = 0
        for address in parsed.emails:
            contacts.append(
                {
                    "job_id": spec.job_id,
                    "seq": seq,
                    "pos": pos,
                    "kind": "e",
                    "lead_id_externo": parsed.externo,
                    "valor": address,
                    "tipo": None,
                    "tipo_origem": None,
                }
            )
            pos += 1
        for number, kind, origin in parsed.phones:
            contacts.append(
                {
                    "job_id": spec.job_id,
                    "seq": seq,
                    "pos": pos,
                    "kind": "t",
                    "lead_id_externo": parsed.externo,
                    "valor": number,
                    "tipo": kind,
                    "tipo_origem": origin,
                }
            )
            pos += 1
    return leads, contacts, seq


def write_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Bulk-writes staging rows: COPY on PostgreSQL, one executemany elsewhere."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        # Core, not ORM bulk insert: the ORM splits rows by their None values into many batches.
        connection.execute(insert(table), rows)
        return
    names = list(rows[0])
    columns = ", ".join(f'"{name}"' for name in names)
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


def stage(
    db: Database,
    *,
    spec: ImportSpec,
    source: bytes | Path,
    checkpoint: Checkpoint,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Reads and normalises the whole sheet into the staging tables; returns the counters.

    Raises InvalidInput with a message for the user when the file cannot be imported.
    `on_progress` is called after each chunk is committed.
    """
    progress = progress or Progress()
    mapping = validate_mapping(spec.mapping)
    sheet = open_sheet(source, filename=spec.filename, sheet=spec.sheet)
    progress.aba, progress.formato = sheet.name, sheet.format
    head = list(islice(sheet.rows, HEADER_SCAN_ROWS))
    cmap = find_header(
        [(i, [cell_text(c) for c in row]) for i, (_, row) in enumerate(head)], mapping
    )
    header_line = head[cmap.header_index][0]
    if sheet.total_rows is not None:
        progress.linhas_total = max(0, sheet.total_rows - header_line)
    if progress.linhas_total and progress.linhas_total > MAX_ROWS:
        raise InvalidInput(
            f"the sheet has {progress.linhas_total:,} rows; at most {MAX_ROWS:,} can be imported",
            field="file",
        )
    parser = RowParser(cmap)
    progress.errors = parser.errors

    def data_rows() -> Iterator[tuple[int, Sequence[object]]]:
        yield from head[cmap.header_index + 1 :]
        yield from sheet.rows

    with db.session() as session:
        clear(session, job_id=spec.job_id)
        checkpoint(session, progress)
    seen: set[str] = set()
    seq = 0
    for chunk in _chunks(data_rows()):
        if should_stop():
            raise Interrupted
        leads, contacts, seq = _stage_chunk(
            parser, chunk, spec=spec, seen=seen, progress=progress, seq=seq
        )
        if progress.linhas_processadas > MAX_ROWS:
            raise InvalidInput(f"at most {MAX_ROWS:,} rows can be imported", field="file")
        with db.session() as session:
            write_rows(session, table_of(IngestStageLead), leads)
            write_rows(session, table_of(IngestStageContact), contacts)
            checkpoint(session, progress)
        if on_progress is not None:
            on_progress(progress)
    if progress.linhas_total is None or progress.linhas_total < progress.linhas_processadas:
        progress.linhas_total = progress.linhas_processadas
    if not seen:
        raise InvalidInput(
            f"no data rows below the header (row {header_line}): nothing to import", field="file"
        )
    return progress


def finish(session: Session, *, spec: ImportSpec, progress: Progress) -> None:
    """The atomic part: merges the staged rows into leads, e-mails and phones, then clears them."""
    counts = merge.merge(
        session,
        job_id=spec.job_id,
        tenant_id=spec.tenant_id,
        arquivo=spec.filename,
        aba=progress.aba,
    )
    progress.leads_criados = counts.leads_criados
    progress.leads_atualizados = counts.leads_atualizados
    progress.emails_criados = counts.emails_criados
    progress.telefones_criados = counts.telefones_criados
    clear(session, job_id=spec.job_id)


def clear(session: Session, *, job_id: int) -> None:
    """Drops a job's staged rows (before a fresh attempt, after the merge or a failure)."""
    session.execute(delete(IngestStageContact).where(IngestStageContact.job_id == job_id))
    session.execute(delete(IngestStageLead).where(IngestStageLead.job_id == job_id))
