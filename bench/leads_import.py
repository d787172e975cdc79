"""Lead import benchmark: a seed-shaped workbook through the real job, on SQLite and PostgreSQL.

Run from the repository root:

    .venv/bin/python bench/leads_import.py                 # SQLite, and PostgreSQL if reachable
    .venv/bin/python bench/leads_import.py --rows 20000    # a smaller workbook
    .venv/bin/python bench/leads_import.py --backend sqlite --naive-rows 0

It generates (once, cached under a temporary folder) a workbook shaped like the seed's
`Leads_Organizados.xlsx`: sheet "Leads", 164,809 rows, about 107,835 phones and 57,117 e-mails,
with a merged title row above the header, blank and duplicated rows, invalid e-mails, phones
stored as floats and CNPJs that lost their leading zeros. Each backend runs in a child process
(so its peak RSS is its own): a fresh database, the upload stored as a job, the job run by
`run_pending_jobs`, exactly as a worker does. It prints seconds, rows/s and peak RSS against the
targets (< 30 s, < 400 MB), then runs the naive peer (openpyxl reading the whole workbook and one
INSERT per lead, e-mail and phone, committed at the end) on the first `--naive-rows` rows and
prints the speed ratio. PostgreSQL is reached through CARTEIRO_BENCH_PG_URL (default
postgresql://postgres@127.0.0.1:5432/postgres); a scratch database is created and dropped.
Results are also saved as JSON under bench/results/. Needs openpyxl (the test extra).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

SEED_ROWS = 164_809
GENERATOR_VERSION = "v2"  # bump when generate() changes, so a cached workbook is not reused
TARGET_SECONDS = 30.0
TARGET_RSS_MB = 400.0
PG_ADMIN_URL = os.environ.get(
    "CARTEIRO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RESULTS = Path(__file__).resolve().parent / "results"
FIRST = ["Ana", "João", "Maria", "José", "Antônio", "Francisca", "Carlos", "Paula", "Luís", "Rita"]
LAST = ["Silva", "Santos", "Oliveira", "Souza", "Pereira", "Lima", "Gonçalves", "Araújo", "Melo"]
KINDS = ["Comércio", "Serviços", "Indústria", "Transportes", "Alimentos", "Construções"]
DDD = [11, 12, 13, 19, 21, 27, 31, 41, 47, 48, 51, 61, 62, 71, 81, 85, 91, 92]


def _check_digit(digits: str, weights: list[int]) -> str:
    rest = sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11
    return "0" if rest < 2 else str(11 - rest)


def cnpj(rng: random.Random) -> str:
    base = f"{rng.randrange(10**8):08d}0001"
    w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    base += _check_digit(base, w1)
    return base + _check_digit(base, [6, *w1])


def _phone(rng: random.Random) -> object:
    ddd = rng.choice(DDD)
    mobile = rng.random() < 0.7
    number = (
        f"9{rng.randrange(10**8):08d}"
        if mobile
        else f"{rng.randrange(2, 6)}{rng.randrange(10**7):07d}"
    )
    style = rng.random()
    if style < 0.35:
        return float(f"55{ddd}{number}")  # a float, as spreadsheets store long numbers
    if style < 0.55:
        return int(f"{ddd}{number}")
    if style < 0.8:
        return f"({ddd}) {number[:-4]}-{number[-4:]}"
    if style < 0.9:
        return f"+55 {ddd} {number}"
    return f"0{ddd} {number}"


def _email(rng: random.Random, name: str, i: int) -> str:
    user = name.split()[0].lower().encode("ascii", "ignore").decode() or "contato"
    return f"{user}.{i}@{rng.choice(['gmail.com', 'empresa.com.br', 'hotmail.com', 'uol.com.br'])}"


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Writes the messy seed-shaped workbook (openpyxl, write-only: constant memory)."""
    import openpyxl

    rng = random.Random(seed)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    sheet.append(["Leads Organizados — exportação do CRM"])
    sheet.append([])
    sheet.append(
        ["Razão Social", "Contato", "CNPJ/CPF", "E-mail(s)", "Telefone", "Celular / WhatsApp", "UF"]
    )
    previous: list[object] = []
    # Fractions tuned so the clean totals land near the seed's 107,835 phones / 57,117 e-mails.
    for i in range(rows):
        r = rng.random()
        if r < 0.004:
            sheet.append([])
            continue
        if r < 0.007 and previous:
            sheet.append(previous)
            continue
        person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        company = f"{rng.choice(LAST)} {rng.choice(KINDS)} Ltda"
        doc: object = cnpj(rng)
        if rng.random() < 0.3:
            doc = int(doc)  # leading zeros lost when stored as a number
        email: object = None
        e = rng.random()
        if e < 0.28:
            email = _email(rng, person, i)
        elif e < 0.315:
            email = f"{_email(rng, person, i)}; {_email(rng, company, i)}".upper()
        elif e < 0.33:
            email = f"{person.split()[0].lower()}@"  # invalid
        phone = _phone(rng) if rng.random() < 0.5 else None
        cell = _phone(rng) if rng.random() < 0.155 else None
        row = [company, person, doc, email, phone, cell, rng.choice(["SP", "RJ", "MG", "PR"])]
        previous = row
        sheet.append(row)
    book.save(path)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _runtime(url: str, data_dir: Path):  # type: ignore[no-untyped-def]
    from carteiro import wiring
    from carteiro.config import Settings

    settings = Settings(
        _env_file=None, database_url=url, data_dir=data_dir, secret_key="bench", api_key=None
    )
    runtime = wiring.runtime(settings)
    runtime.migrate()
    runtime.bootstrap()
    return runtime


def child_fast(url: str, workbook: Path, data_dir: Path) -> dict:
    from carteiro.leads import jobs, worker
    from carteiro.tenancy.service import Principal

    runtime = _runtime(url, data_dir)
    principal = Principal(tenant_id=1, key_id=None, key_name="bench", scopes=("*",))
    started = time.perf_counter()
    with runtime.db.session() as session:
        job_id = jobs.create(
            session, principal=principal, filename=workbook.name, content=workbook.read_bytes()
        ).job_id
    worker.run_pending_jobs(runtime, worker_id="bench")
    seconds = time.perf_counter() - started
    with runtime.db.session() as session:
        job = jobs.get_or_raise(session, tenant_id=1, job_id=job_id)
        result = {
            "status": job.status,
            "erro": job.mensagem_erro,
            "rows": job.linhas_processadas,
            "leads": job.leads_criados,
            "phones": job.telefones_criados,
            "emails": job.emails_criados,
            "row_errors": job.erros_total,
        }
    runtime.db.dispose()
    return {**result, "seconds": seconds, "rss_mb": _rss_mb()}


def child_naive(url: str, workbook: Path, data_dir: Path, limit: int) -> dict:
    """The peer: openpyxl loads the workbook, then one INSERT per lead, e-mail and phone."""
    import openpyxl

    from carteiro.leads import normalize as norm
    from carteiro.leads.models import Lead, LeadEmail, LeadTelefone

    runtime = _runtime(url, data_dir)
    started = time.perf_counter()
    sheet = openpyxl.load_workbook(workbook)["Leads"]
    loaded = time.perf_counter()
    total = sheet.max_row - 3
    done = 0
    with runtime.db.session() as session:
        for i, row in enumerate(sheet.iter_rows(min_row=4, values_only=True)):
            if done >= limit:
                break
            done += 1
            if not any(row):
                continue
            lead = Lead(
                tenant_id=1,
                lead_id_externo=f"naive-{i}",
                nome=row[0],
                contato_nome=row[1],
                documento=norm.cell_text(row[2]),
            )
            session.add(lead)
            session.flush()
            for token in norm.split_emails(norm.cell_text(row[3])):
                address = norm.normalise_email(token)
                if address:
                    session.add(LeadEmail(lead_id=lead.lead_id, tenant_id=1, email=address))
                    session.flush()
            for cell in (row[4], row[5]):
                phone = norm.normalise_phone(norm.cell_text(cell)) if cell else None
                if phone:
                    session.add(LeadTelefone(lead_id=lead.lead_id, tenant_id=1, telefone=phone[0]))
                    session.flush()
    ended = time.perf_counter()
    runtime.db.dispose()
    return {
        "rows": done,
        "total_rows": total,
        "load_seconds": loaded - started,
        "insert_seconds": ended - loaded,
        "rss_mb": _rss_mb(),
    }


class Scratch:
    """A database for one child: a SQLite file, or a PostgreSQL database created and dropped."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self.name = f"carteiro_bench_{uuid.uuid4().hex[:8]}"
        if backend == "sqlite":
            self.url = f"sqlite:///{folder / (self.name + '.db')}"
        else:
            self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name

    def __enter__(self) -> str:
        if self.backend == "postgresql":
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def __exit__(self, *_: object) -> None:
        if self.backend == "postgresql":
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def pg_available() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except Exception:
        return False
    return True


def run_child(mode: str, backend: str, workbook: Path, folder: Path, limit: int = 0) -> dict:
    with Scratch(backend, folder) as url:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--url",
                url,
                "--workbook",
                str(workbook),
                "--data-dir",
                str(folder / "data"),
                "--naive-rows",
                str(limit),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=SEED_ROWS)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--naive-rows", type=int, default=20_000, help="0 skips the naive peer")
    parser.add_argument("--workbook", type=Path, help="use this workbook instead of generating")
    parser.add_argument("--child", choices=["fast", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "fast":
            result = child_fast(args.url, args.workbook, args.data_dir)
        else:
            result = child_naive(args.url, args.workbook, args.data_dir, args.naive_rows)
        print(json.dumps(result))
        return

    cache = Path(tempfile.gettempdir()) / "carteiro-bench"
    cache.mkdir(exist_ok=True)
    workbook = args.workbook or cache / f"leads_{args.rows}_{GENERATOR_VERSION}.xlsx"
    if not workbook.exists():
        print(f"generating {workbook} ({args.rows:,} rows)…", flush=True)
        t = time.perf_counter()
        generate(workbook, args.rows)
        print(f"  generated in {time.perf_counter() - t:.1f} s", flush=True)
    size = workbook.stat().st_size / 1024 / 1024
    print(f"workbook: {workbook} ({size:.1f} MB)")

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not pg_available():
        print(f"PostgreSQL not reachable at {PG_ADMIN_URL}: skipped")
        backends.remove("postgresql")

    results: dict[str, object] = {
        "started": datetime.now(UTC).isoformat(),
        "workbook": str(workbook),
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="carteiro-bench-") as tmp:
        folder = Path(tmp)
        for backend in backends:
            fast = run_child("fast", backend, workbook, folder)
            run: dict[str, object] = {"carteiro": fast}
            results["runs"][backend] = run  # type: ignore[index]
            rate = fast["rows"] / fast["seconds"]
            ok_time = "ok" if fast["seconds"] < TARGET_SECONDS else "MISSED"
            ok_rss = "ok" if fast["rss_mb"] < TARGET_RSS_MB else "MISSED"
            print(
                f"\n[{backend}] carteiro import: {fast['status']} — {fast['rows']:,} rows, "
                f"{fast['leads']:,} leads, {fast['phones']:,} phones, {fast['emails']:,} e-mails, "
                f"{fast['row_errors']:,} row errors"
            )
            if fast["erro"]:
                print(f"  error: {fast['erro']}")
            print(
                f"  {fast['seconds']:.1f} s (target < {TARGET_SECONDS:.0f} s: {ok_time}), "
                f"{rate:,.0f} rows/s, peak RSS {fast['rss_mb']:.0f} MB "
                f"(target < {TARGET_RSS_MB:.0f} MB: {ok_rss})"
            )
            if args.naive_rows:
                naive = run_child("naive", backend, workbook, folder, args.naive_rows)
                run["naive"] = naive
                # The whole workbook is loaded once; inserts are timed on the first rows only.
                whole = naive["load_seconds"] + naive["insert_seconds"] * (
                    naive["total_rows"] / max(1, naive["rows"])
                )
                naive_rate = naive["total_rows"] / whole
                print(
                    f"  naive peer (openpyxl load {naive['load_seconds']:.1f} s, then row-by-row "
                    f"inserts: {naive['rows']:,} rows in {naive['insert_seconds']:.1f} s), "
                    f"peak RSS {naive['rss_mb']:.0f} MB"
                )
                print(
                    f"  naive, whole sheet (extrapolated): {whole:.0f} s, {naive_rate:,.0f} rows/s"
                    f" → carteiro is {rate / naive_rate:.1f}x faster"
                )
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = RESULTS / f"leads_import-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults saved to {out}")


if __name__ == "__main__":
    main()
