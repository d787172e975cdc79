"""Reminders under an injected clock: fired once when due, re-validated at fire time (never
after a cancel or for a moved time), skipped when past the start, leased across workers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from carteiro.appointments import notifications, worker
from carteiro.appointments.models import Lembrete
from carteiro.dispatches.models import Disparo
from carteiro.events.models import OutboxEvent
from carteiro.leads import suppression
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp.schemas import NumberCreate, TemplateCreate, TemplateParam

START = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)


def book(client: TestClient, lead_id: int, start: datetime = START, **extra: object) -> int:
    body = {"tipo": "reuniao", "canal": "video", "data_agendada": start.isoformat(), **extra}
    response = client.post(f"/leads/{lead_id}/agendamentos", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["agendamento_id"])


def fire_at(runtime: Runtime, when: datetime, owner: str = "w1") -> int:
    return worker.run_due(runtime.db, runtime.settings, owner=owner, clock=lambda: when)


def reminders_of(client: TestClient, ag_id: int) -> list[tuple[int, str, str | None]]:
    rows = client.get(f"/agendamentos/{ag_id}").json()["lembretes"]
    return sorted(((r["offset_minutos"], r["status"], r["motivo"]) for r in rows), reverse=True)


class Mail(NamedTuple):
    id: int
    to_email: str
    subject: str
    body: str
    lane: int


def reminder_mail(runtime: Runtime) -> list[Mail]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(Email.id, Email.to_email, Email.subject, Email.body, Email.lane)
            .where(Email.subject.like("Lembrete:%"))
            .order_by(Email.id)
        )
        return [Mail(*r) for r in rows]


def test_each_reminder_fires_once_when_due(
    client: TestClient, runtime: Runtime, lead_id: int
) -> None:
    ag_id = book(client, lead_id)
    assert fire_at(runtime, START - timedelta(days=2)) == 0  # nothing due yet
    assert fire_at(runtime, START - timedelta(hours=23)) == 1
    assert reminders_of(client, ag_id)[0][:2] == (1440, "enviado")
    assert fire_at(runtime, START - timedelta(minutes=59)) == 1
    assert fire_at(runtime, START - timedelta(minutes=30)) == 0  # nothing fires twice
    assert [r[1] for r in reminders_of(client, ag_id)] == ["enviado", "enviado"]
    mails = reminder_mail(runtime)
    assert len(mails) == 2 and {m.to_email for m in mails} == {"maria@example.com"}
    assert all("meet.jit.si/carteiro-" in m.body for m in mails)
    assert all(m.lane == 0 for m in mails)  # the transactional lane
    detail = client.get(f"/agendamentos/{ag_id}").json()
    assert [e["tipo"] for e in detail["eventos"]].count("lembrete_enviado") == 2


def test_a_cancelled_appointment_sends_no_reminder(
    client: TestClient, runtime: Runtime, lead_id: int
) -> None:
    ag_id = book(client, lead_id)
    # A worker claimed the reminders just before the cancel commits: it still sends nothing.
    with runtime.db.session() as session:
        claimed = worker.claim(
            session, owner="w1", lease_seconds=60, limit=10, now=START - timedelta(minutes=30)
        )
    assert len(claimed) == 2
    cancel = {"motivo_cancelamento": "pagamento_realizado"}
    assert client.post(f"/agendamentos/{ag_id}/cancel", json=cancel).status_code == 200
    with runtime.db.session() as session:
        counts = worker.fire_claimed(
            session,
            ids=claimed,
            owner="w1",
            settings=runtime.settings,
            now=START - timedelta(minutes=30),
        )
    assert counts == {"enviado": 0, "pulado": 0}
    assert fire_at(runtime, START - timedelta(minutes=1)) == 0
    assert reminder_mail(runtime) == []
    assert [r[1] for r in reminders_of(client, ag_id)] == ["cancelado", "cancelado"]


def test_a_moved_appointment_reminds_of_the_new_time_only(
    client: TestClient, runtime: Runtime, lead_id: int
) -> None:
    ag_id = book(client, lead_id)
    later = START + timedelta(days=2)
    response = client.patch(f"/agendamentos/{ag_id}", json={"data_agendada": later.isoformat()})
    assert response.status_code == 200
    # The old times pass: nothing fires for them.
    assert fire_at(runtime, START - timedelta(minutes=30)) == 0
    assert fire_at(runtime, later - timedelta(minutes=30)) == 2
    rows = reminders_of(client, ag_id)
    assert sorted(r[1] for r in rows) == ["cancelado", "cancelado", "enviado", "enviado"]
    first, _ = reminder_mail(runtime)
    assert "remarc" not in first.subject.lower()
    local = later.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert f"{local:%d/%m/%Y} às {local:%H:%M}" in first.subject


def test_a_stale_reminder_row_is_re_validated_at_fire_time(
    client: TestClient, runtime: Runtime, lead_id: int
) -> None:
    # A row for an old time left "agendado" (e.g. written by an older version): the fire-time
    # check alone must stop it.
    ag_id = book(client, lead_id, lembretes_minutos=[60])
    with runtime.db.session() as session:
        row = session.scalars(select(Lembrete).where(Lembrete.agendamento_id == ag_id)).one()
        row.alvo = START - timedelta(days=1)
    assert fire_at(runtime, START - timedelta(minutes=30)) == 1
    assert reminders_of(client, ag_id) == [(60, "pulado", "appointment was moved")]
    assert reminder_mail(runtime) == []


def test_after_an_outage_late_reminders_go_out_only_before_the_start(
    client: TestClient, runtime: Runtime, lead_id: int
) -> None:
    ag_id = book(client, lead_id)
    # The worker was down for both due times; it comes back 10 minutes before the start.
    assert fire_at(runtime, START - timedelta(minutes=10)) == 2
    assert [r[1] for r in reminders_of(client, ag_id)] == ["enviado", "enviado"]
    other = book(client, lead_id)
    # And for this one it comes back after the start: both are skipped, with the reason.
    assert fire_at(runtime, START + timedelta(minutes=5)) == 2
    assert reminders_of(client, other) == [
        (1440, "pulado", "appointment already started"),
        (60, "pulado", "appointment already started"),
    ]


def test_offsets_past_at_booking_are_skipped_and_custom_offsets_apply(
    client: TestClient, runtime: Runtime, lead_id: int
) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0)
    ag_id = book(client, lead_id, start=soon)
    assert reminders_of(client, ag_id) == [
        (1440, "pulado", "already past when booked"),
        (60, "pulado", "already past when booked"),
    ]
    custom = book(client, lead_id, lembretes_minutos=[120, 15, 0])
    assert [r[0] for r in reminders_of(client, custom)] == [120, 15, 0]
    response = client.put("/agendamentos-config/lembretes", json={"lembretes_minutos": [30]})
    assert response.status_code == 200
    tenant_default = book(client, lead_id)
    assert [r[0] for r in reminders_of(client, tenant_default)] == [30]


def test_phone_callbacks_notify_the_owner_and_whatsapp_without_a_template_is_skipped(
    client: TestClient, runtime: Runtime, lead_id: int, principal: Principal
) -> None:
    callback = book(client, lead_id, tipo="callback", canal="telefone")
    chat = book(client, lead_id, canal="whatsapp")
    assert fire_at(runtime, START - timedelta(minutes=30)) == 4
    assert [r[1] for r in reminders_of(client, callback)] == ["enviado", "enviado"]
    assert {r[2] for r in reminders_of(client, chat)} == {
        "WhatsApp template lembrete_agendamento is not in the tenant's registry"
    }
    notes = client.get("/agendamentos-notificacoes").json()
    kinds = sorted(n["tipo"] for n in notes if n["agendamento_id"] == callback)
    assert kinds == ["callback", "lembrete", "lembrete"]
    with runtime.db.session() as session:
        assert notifications.unread(session, tenant_id=principal.tenant_id) == len(notes) >= 3
        events = [e.type for e in session.scalars(select(OutboxEvent))]
    assert "callback_requested" in events and "appointment_reminder" in events
    assert "appointment_created" in events


def test_two_workers_never_fire_the_same_reminder(
    client: TestClient, runtime: Runtime, lead_id: int
) -> None:
    ids = [book(client, lead_id) for _ in range(5)]
    now = START - timedelta(minutes=30)
    with runtime.db.session() as session:
        first = worker.claim(session, owner="a", lease_seconds=60, limit=6, now=now)
    with runtime.db.session() as session:
        second = worker.claim(session, owner="b", lease_seconds=60, limit=6, now=now)
    assert len(first) == 6 and len(second) == 4 and not set(first) & set(second)
    # "a" dies; its lease lapses and "b" takes its rows over (its own lapsed too: both
    # workers stalled); "a"'s late round then sends nothing.
    later = now + timedelta(seconds=61)
    with runtime.db.session() as session:
        taken = worker.claim(session, owner="b", lease_seconds=60, limit=10, now=later)
    assert sorted(taken) == sorted(first + second)
    with runtime.db.session() as session:
        stale = worker.fire_claimed(
            session, ids=first, owner="a", settings=runtime.settings, now=later
        )
    assert stale == {"enviado": 0, "pulado": 0}
    assert fire_at(runtime, later, owner="b") == 0  # leased by b, not due for anyone else
    with runtime.db.session() as session:
        done = worker.fire_claimed(
            session, ids=taken, owner="b", settings=runtime.settings, now=later
        )
    assert done == {"enviado": 10, "pulado": 0}
    assert len(reminder_mail(runtime)) == 10 == 2 * len(ids)


def test_a_suppressed_address_skips_only_its_reminder(
    client: TestClient, runtime: Runtime, principal: Principal, make_lead: Callable[..., int]
) -> None:
    blocked = make_lead("Bloqueado", email="blocked@example.com")
    fine = make_lead("Livre", email="fine@example.com")
    with runtime.db.session() as session:
        suppression.suppress(
            session,
            tenant_id=principal.tenant_id,
            email="blocked@example.com",
            domain=None,
            reason="hard_bounce",
            source="test",
        )
    stopped = book(client, blocked, lembretes_minutos=[60], enviar_convite=False)
    sent = book(client, fine, lembretes_minutos=[60], enviar_convite=False)
    assert fire_at(runtime, START - timedelta(minutes=30)) == 2
    ((_, status, motivo),) = reminders_of(client, stopped)
    assert status == "pulado" and "suppression" in (motivo or "")
    assert [r[1] for r in reminders_of(client, sent)] == ["enviado"]
    # The refused one stays visible in the outbox as suppressed, never sent.
    with runtime.db.session() as session:
        rows = session.execute(
            select(Email.to_email, Email.status).where(Email.subject.like("Lembrete:%"))
        ).all()
    assert sorted(rows) == [("blocked@example.com", "suppressed"), ("fine@example.com", "pending")]


def test_the_loop_sleeps_until_the_soonest_reminder_but_never_past_the_interval() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert worker.pause_before(None, now=now, interval=1.0) == 1.0
    assert worker.pause_before(now + timedelta(seconds=0.25), now=now, interval=1.0) == 0.25
    assert worker.pause_before(now + timedelta(hours=1), now=now, interval=1.0) == 1.0
    assert worker.pause_before(now - timedelta(seconds=5), now=now, interval=1.0) == 0.0


def test_a_whatsapp_reminder_goes_out_as_a_dispatch_with_the_configured_template(
    client: TestClient, runtime: Runtime, lead_id: int, principal: Principal
) -> None:
    with runtime.db.session() as session:
        whatsapp.create_number(
            session,
            tenant_id=principal.tenant_id,
            data=NumberCreate(
                name="principal",
                phone_number_id="109876543210",
                token="wa-token",
                app_secret="app-secret",
                verify_token="verify-me",
                base_url="http://fake-graph",
            ),
            vault=runtime.vault,
            evolution_enabled=False,
        )
        whatsapp.create_template(
            session,
            tenant_id=principal.tenant_id,
            data=TemplateCreate(
                name="lembrete_agendamento",
                params=[TemplateParam(name="nome"), TemplateParam(name="quando")],
                body="Olá {{nome}}, lembramos do seu horário em {{quando}}.",
            ),
        )
    chat = book(client, lead_id, canal="whatsapp")
    assert fire_at(runtime, START - timedelta(minutes=30)) == 2
    assert [r[1] for r in reminders_of(client, chat)] == ["enviado", "enviado"]
    with runtime.db.session() as session:
        sent = list(session.scalars(select(Disparo).order_by(Disparo.disparo_id)))
    assert [(d.canal, d.template, d.source, d.lead_id) for d in sent] == [
        ("whatsapp", "lembrete_agendamento", "appointment", lead_id)
    ] * 2
    assert sent[0].payload["variaveis"]["nome"] == "Maria Silva"
    assert set(sent[0].payload["variaveis"]) == {"nome", "quando"}  # only what it declares
    assert all(d.not_after is not None and d.destino == "+5511987654321" for d in sent)
