"""Prometheus metrics of appointments (seed name AgendamentosCriados)."""

from __future__ import annotations

from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.orm import Session

AGENDAMENTOS_CRIADOS = Counter(
    "agendamentos_criados",
    "Appointments booked (seed: AgendamentosCriados)",
    ["tenant", "canal"],
)
REMINDERS_FIRED = Counter(
    "agendamento_lembretes_total",
    "Appointment reminders handled, by channel and outcome (enviado or pulado)",
    ["channel", "status"],
)


def count_created(session: Session, *, tenant_id: int, canal: str) -> None:
    """Counts the booking once its transaction commits (a rolled-back one never counts)."""

    def _inc(_session: Session) -> None:
        AGENDAMENTOS_CRIADOS.labels(tenant=str(tenant_id), canal=canal).inc()

    event.listen(session, "after_commit", _inc, once=True)
