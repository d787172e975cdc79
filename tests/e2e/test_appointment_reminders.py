"""Reminders with real processes: `carteiro serve --no-worker` takes the bookings, a
`carteiro worker` killed with SIGKILL while reminders are due loses none, and the worker that
takes over sends none twice."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from e2ekit import Process, child_env, free_port, private_database, wait_until
from sqlalchemy import func, select

from carteiro.appointments.models import Lembrete
from carteiro.db.engine import Database
from carteiro.leads.models import Lead, LeadEmail
from carteiro.outbound.models import Email

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
COUNT = 120
# The second half falls due this much later, so the first worker is surely killed with work
# left however slowly the test itself is scheduled (on a loaded machine it once saw the first
# send only after all 120 had gone).
LATER = timedelta(seconds=15)


def _leads(db: Database, count: int) -> list[int]:
    with db.session() as session:
        leads = [
            Lead(tenant_id=1, lead_id_externo=f"e2e-{i}", nome=f"Lead {i}") for i in range(count)
        ]
        session.add_all(leads)
        session.flush()
        session.add_all(
            LeadEmail(
                lead_id=lead.lead_id,
                tenant_id=1,
                email=f"lead{i}@example.com",
                email_principal=True,
            )
            for i, lead in enumerate(leads)
        )
        return [lead.lead_id for lead in leads]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False


def _counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(select(Lembrete.status, func.count()).group_by(Lembrete.status))
        return {status: int(n) for status, n in rows}


def test_a_killed_worker_loses_no_reminder_and_none_is_sent_twice(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with private_database(tmp_path) as url:
        env = child_env(url, tmp_path / "data")
        env["CARTEIRO_LEASE_SECONDS"] = "3"
        env["CARTEIRO_APPOINTMENT_POLL_INTERVAL"] = "0.2"
        port = free_port()
        serve = Process(["serve", "--no-worker", "--port", str(port)], env=env, cwd=cwd)
        processes = [serve]
        db = Database(url)
        try:
            key = serve.wait_for_line("API key: ").removeprefix("API key: ")
            serve.wait_for_line("Carteiro listening on ")
            lead_ids = _leads(db, COUNT)
            health = f"http://127.0.0.1:{port}/health"
            wait_until(lambda: _answers(health), 30, "serve to answer /health")
            # Starts a minute and a few seconds away, reminded a minute before: half due soon,
            # half a little later.
            start = (datetime.now(UTC) + timedelta(seconds=75)).replace(microsecond=0)
            due = start - timedelta(minutes=1)
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ) as http:
                for n, lead_id in enumerate(lead_ids):
                    at = start if n % 2 == 0 else start + LATER
                    booked = http.post(
                        f"/leads/{lead_id}/agendamentos",
                        json={
                            "tipo": "reuniao",
                            "canal": "video",
                            "data_agendada": at.isoformat(),
                            "lembretes_minutos": [1],
                            "enviar_convite": False,
                        },
                    )
                    assert booked.status_code == 201, booked.text
            assert _counts(db) == {"agendado": COUNT}
            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.5)

            # One reminder a round, so the kill lands while many of the first half are due.
            first = Process(
                ["worker"], env={**env, "CARTEIRO_APPOINTMENT_BATCH_SIZE": "1"}, cwd=cwd
            )
            processes.append(first)
            deadline = time.monotonic() + 30
            while _counts(db).get("enviado", 0) < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            first.proc.kill()
            first.proc.wait(timeout=10)
            processes.remove(first)
            assert first.proc.returncode == -9
            left = _counts(db).get("agendado", 0)
            assert left > 0, "the worker finished before it was killed"

            processes.append(Process(["worker"], env=env, cwd=cwd))
            wait_until(lambda: _counts(db) == {"enviado": COUNT}, 45, "every reminder sent")
            with db.session() as session:
                mails = session.execute(
                    select(Email.id, Email.to_email).where(Email.subject.like("Lembrete:%"))
                ).all()
                linked = session.scalars(select(Lembrete.email_id)).all()
            # One e-mail per lead (each has one reminder), each linked from its reminder.
            assert len(mails) == COUNT
            assert sorted(to for _, to in mails) == sorted(
                f"lead{i}@example.com" for i in range(COUNT)
            )
            assert sorted(linked) == sorted(i for i, _ in mails)
        except BaseException:
            for process in processes:
                print(process.output())
            raise
        finally:
            codes = {p.name: p.stop() for p in reversed(processes)}
            db.dispose()
            time.sleep(0.1)
        assert all(code == 0 for code in codes.values()), codes
