"""The calendar part: written byte for byte as the email package writes it, with and without
HTML, attachments and non-ASCII text; the calendar itself round-trips through icalendar."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from carteiro.appointments.ics import Invitation, build
from carteiro.mail.attachments import Attachment
from carteiro.mail.compose import compose_message
from carteiro.mail.mime import CalendarPart


def invitation(summary: str, zone: str = "America/Sao_Paulo") -> Invitation:
    return Invitation(
        uid="agendamento-abc@carteiro",
        sequence=3,
        start=datetime(2030, 12, 10, 13, 0, tzinfo=UTC),
        minutes=45,
        zone=zone,
        summary=summary,
        description="Linha 1\nLinha 2, com vírgula; e ponto e vírgula",
        organizer_email="agenda@example.com",
        organizer_name="Equipe",
        attendee_email="maria@example.com",
        attendee_name="Maria",
        video_url=None,
        stamp=datetime(2030, 12, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize("summary", ["Reuniao", "Reunião com Padaria Pão Quente"])
@pytest.mark.parametrize("html", [None, "<p>Olá</p>"])
@pytest.mark.parametrize("attach", [False, True])
@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_direct_render_matches_the_email_package(
    summary: str, html: str | None, attach: bool, method: str
) -> None:
    text = build(invitation(summary), method)  # type: ignore[arg-type]
    files = [Attachment("convite.ics", "application/ics", text.encode())] if attach else []
    args = {
        "from_addr": "agenda@example.com",
        "from_name": None,
        "to": ["maria@example.com"],
        "cc": [],
        "subject": "Convite",
        "text": "Olá",
        "html": html,
        "attachments": files,
        "calendar": CalendarPart(ics=text, method=method),
        "message_id": "<x@example.com>",
        "date": datetime(2030, 12, 1, tzinfo=UTC),
    }
    random.seed(7)
    direct = compose_message(**args)  # type: ignore[arg-type]
    random.seed(7)
    reference = compose_message(**args, stdlib=True)  # type: ignore[arg-type]
    assert direct == reference


def test_the_calendar_round_trips_in_other_zones() -> None:
    for zone in ("America/Manaus", "America/Noronha", "Europe/Lisbon"):
        cal = Calendar.from_ical(build(invitation("Reunião", zone), "REQUEST"))
        (event,) = cal.walk("VEVENT")
        assert event.decoded("DTSTART") == datetime(2030, 12, 10, 13, 0, tzinfo=UTC)
        assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == [zone]
        assert "UID" not in cal  # only the event carries the stable UID
        assert str(event["DESCRIPTION"]).startswith("Linha 1\nLinha 2, com vírgula;")
