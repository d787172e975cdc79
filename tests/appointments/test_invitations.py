"""Calendar invitations: REQUEST, the update (same UID, SEQUENCE + 1) and CANCEL, parsed back
with icalendar; the MIME shape calendar clients expect; delivery through a real SMTP server."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.message import Message

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import select

from carteiro.appointments.models import AgendamentoEvento
from carteiro.outbound.models import Email
from carteiro.runtime import Runtime
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink

START = datetime(2030, 12, 10, 13, 0, tzinfo=UTC)  # 10:00 in São Paulo


def invitation_ids(runtime: Runtime, ag_id: int) -> list[int]:
    with runtime.db.session() as session:
        rows = session.scalars(
            select(AgendamentoEvento)
            .where(
                AgendamentoEvento.agendamento_id == ag_id,
                AgendamentoEvento.tipo == "convite_enviado",
            )
            .order_by(AgendamentoEvento.id)
        )
        return [int(r.detalhe["email_id"]) for r in rows]


def raw(runtime: Runtime, email_id: int) -> bytes:
    with runtime.db.session() as session:
        return bytes(session.scalars(select(Email.raw).where(Email.id == email_id)).one())


def calendar_part(message: Message) -> Message:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    return parts[0]


def parsed(data: bytes) -> tuple[Message, Calendar]:
    message = email.message_from_bytes(data)
    part = calendar_part(message)
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return message, Calendar.from_ical(payload.decode("utf-8"))


def book(client: TestClient, lead_id: int, **extra: object) -> int:
    body = {
        "tipo": "reuniao",
        "canal": "video",
        "data_agendada": START.isoformat(),
        "observacoes": "Negociação da dívida",
        **extra,
    }
    response = client.post(f"/leads/{lead_id}/agendamentos", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["agendamento_id"])


def test_request_update_and_cancel_parse_back(
    client: TestClient, runtime: Runtime, lead_id: int
) -> None:
    ag_id = book(client, lead_id)
    moved = START + timedelta(days=1, hours=2)
    assert (
        client.patch(
            f"/agendamentos/{ag_id}", json={"data_agendada": moved.isoformat()}
        ).status_code
        == 200
    )
    cancel = {"motivo_cancelamento": "cliente_solicitou"}
    assert client.post(f"/agendamentos/{ag_id}/cancel", json=cancel).status_code == 200

    first, update, cancelled = (parsed(raw(runtime, i)) for i in invitation_ids(runtime, ag_id))
    detail = client.get(f"/agendamentos/{ag_id}").json()
    uids = set()
    for (message, cal), method, sequence, start in (
        (first, "REQUEST", 0, START),
        (update, "REQUEST", 1, moved),
        (cancelled, "CANCEL", 2, moved),
    ):
        assert cal["METHOD"] == method
        assert calendar_part(message).get_param("method") == method
        (event,) = cal.walk("VEVENT")
        uids.add(str(event["UID"]))
        assert int(event["SEQUENCE"]) == sequence
        assert event.decoded("DTSTART") == start
        assert event.decoded("DTSTART").tzinfo.key == "America/Sao_Paulo"  # type: ignore[union-attr]
        assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=30)
        assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["America/Sao_Paulo"]
        assert str(event["ORGANIZER"]).lower().startswith("mailto:")
        assert str(event["ATTENDEE"]) == "mailto:maria@example.com"
        assert str(event["LOCATION"]) == detail["video_url"]
        assert str(event["STATUS"]) == ("CANCELLED" if method == "CANCEL" else "CONFIRMED")
        assert message["To"] == "maria@example.com"
        # The same calendar as an .ics file, for clients that only show attachments.
        files = [p for p in message.walk() if p.get_filename() == "convite.ics"]
        assert len(files) == 1
    assert uids == {detail["ics_uid"]}
    assert detail["video_url"].startswith("https://meet.jit.si/carteiro-")
    assert "Remarcado" in update[0]["Subject"] and "Cancelado" in cancelled[0]["Subject"]


def test_mime_shape_is_mixed_alternative_with_the_calendar(
    client: TestClient, runtime: Runtime, lead_id: int
) -> None:
    ag_id = book(client, lead_id)
    message = email.message_from_bytes(raw(runtime, invitation_ids(runtime, ag_id)[0]))
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.get_payload()  # type: ignore[misc]
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == [
        "text/plain",
        "text/calendar",
    ]
    assert attachment.get_content_type() == "application/ics"


def test_no_invitation_without_an_address_or_when_not_asked(
    client: TestClient, runtime: Runtime, make_lead: object
) -> None:
    no_mail = make_lead("Sem Email", email=None)  # type: ignore[operator]
    ag_id = book(client, no_mail)
    assert invitation_ids(runtime, ag_id) == []
    events = [e["tipo"] for e in client.get(f"/agendamentos/{ag_id}").json()["eventos"]]
    assert "convite_nao_enviado" in events
    with_mail = make_lead("Com Email", email="c@example.com")  # type: ignore[operator]
    assert invitation_ids(runtime, book(client, with_mail, enviar_convite=False)) == []


@pytest.mark.usefixtures("smtp_account")
async def test_the_invitation_reaches_a_real_smtp_server(
    client: TestClient, runtime: Runtime, lead_id: int, sink: SmtpSink
) -> None:
    ag_id = book(client, lead_id)
    (email_id,) = invitation_ids(runtime, ag_id)
    await run_dispatcher_until(runtime, lambda: email_status(runtime, email_id) == "sent")
    assert email_status(runtime, email_id) == "sent"
    assert sink.wait_for(1)
    (received,) = sink.messages
    assert received.rcpt_tos == ["maria@example.com"]
    message, cal = parsed(received.data)
    assert cal["METHOD"] == "REQUEST"
    (event,) = cal.walk("VEVENT")
    # The organizer is the mailbox the invitation came from.
    assert str(event["ORGANIZER"]) == "mailto:sender@example.com"
    assert "sender@example.com" in message["From"]
