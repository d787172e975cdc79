"""`carteiro import leads FILE`: in-process import with a progress bar and a summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from leadkit import counts, messy, xlsx
from typer.testing import Result

from carteiro.leads.models import IngestJob
from carteiro.runtime import Runtime


def jobs_of(runtime: Runtime) -> list[IngestJob]:
    from sqlalchemy import select

    with runtime.db.session() as session:
        return list(session.scalars(select(IngestJob).order_by(IngestJob.job_id)))


def test_import_prints_a_summary(
    cli: Callable[..., Result], runtime: Runtime, api_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "Leads_Organizados.xlsx"
    path.write_bytes(messy())

    result = cli("import", "leads", str(path))

    assert result.exit_code == 0, result.output
    assert "leads created" in result.output and "e-mails created" in result.output
    assert "job 1: 4 leads created" in result.output
    assert "invalid CNPJ/CPF (check digits)" in result.output  # the row errors table
    job = jobs_of(runtime)[0]
    assert (job.status, job.lease_owner, job.arquivo_origem) == (
        "concluido",
        None,
        "Leads_Organizados.xlsx",
    )
    assert job.armazenamento == f"file:{path.resolve()}"
    assert counts(runtime)["leads"] == 4

    again = cli("import", "leads", str(path), "--errors", "0")
    assert again.exit_code == 0, again.output
    assert "leads updated" in again.output and "row errors" in again.output
    assert counts(runtime)["leads"] == 4


def test_import_with_sheet_and_mapping(
    cli: Callable[..., Result], runtime: Runtime, api_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "base.xlsx"
    path.write_bytes(xlsx([["Cliente", "Obs"], ["Acme", "acme@x.com"]], sheet="Base"))

    result = cli("import", "leads", str(path), "--sheet", "Base", "--map", "email=Obs")

    assert result.exit_code == 0, result.output
    assert counts(runtime)["emails"] == 1


def test_failures_exit_non_zero_with_one_line(
    cli: Callable[..., Result], runtime: Runtime, api_key: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a spreadsheet\x00\x00\x00")

    missing = cli("import", "leads", str(tmp_path / "nope.xlsx"))
    bad_map = cli("import", "leads", str(broken), "--map", "apelido=X")
    failed = cli("import", "leads", str(broken))

    assert missing.exit_code == 1 and "file not found" in missing.output
    assert bad_map.exit_code == 1 and "--map" in bad_map.output
    assert failed.exit_code == 1
    assert "import failed (job 1): the file is not a spreadsheet" in failed.output
    assert jobs_of(runtime)[0].status == "erro"
    assert counts(runtime)["leads"] == 0
