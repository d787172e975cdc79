"""iCalendar invitations (RFC 5545, iTIP RFC 5546): REQUEST when new or moved, CANCEL when off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vCalAddress
from icalendar.enums import STATUS

PRODID = "-//Carteiro//Agendamentos//PT-BR"
Method = Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class Invitation:
    """Everything an invitation says; `sequence` rises with every change sent."""

    uid: str
    sequence: int
    start: datetime
    minutes: int
    zone: str
    summary: str
    description: str
    organizer_email: str
    organizer_name: str | None
    attendee_email: str
    attendee_name: str | None
    video_url: str | None
    stamp: datetime


def build(invitation: Invitation, method: Method) -> str:
    """The calendar text (CRLF lines, folded), with the VTIMEZONE of the event's zone.

    Never METHOD:PUBLISH: Google does not remove events it imported that way."""
    zone = ZoneInfo(invitation.zone)
    start = invitation.start.astimezone(zone)
    organizer = vCalAddress.new(invitation.organizer_email, cn=invitation.organizer_name)
    attendee = vCalAddress.new(
        invitation.attendee_email,
        cn=invitation.attendee_name,
        role="REQ-PARTICIPANT",
        partstat="NEEDS-ACTION",
        rsvp=method == "REQUEST",
    )
    event = Event.new(
        uid=invitation.uid,
        sequence=invitation.sequence,
        stamp=invitation.stamp,
        start=start,
        end=start + timedelta(minutes=invitation.minutes),
        summary=invitation.summary,
        description=invitation.description,
        location=invitation.video_url,
        url=invitation.video_url,
        organizer=organizer,
        attendees=[attendee],
        status=STATUS.CANCELLED if method == "CANCEL" else STATUS.CONFIRMED,
    )
    if method == "REQUEST":
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", timedelta(minutes=-15))
        alarm.add("description", invitation.summary)
        event.add_component(alarm)
    calendar = Calendar.new(method=method, prodid=PRODID, calscale="GREGORIAN")
    # Calendar.new stamps a random UID on the calendar itself; the event's is the one that counts.
    calendar.pop("UID", None)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    text: str = calendar.to_ical().decode("utf-8")
    return text
