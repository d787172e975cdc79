"""The domain's error messages (English, shared with the API and the CLI) in the page's language."""

from __future__ import annotations

import re

from fastapi import Request

from carteiro.errors import CarteiroError
from carteiro.web import i18n, render
from carteiro.web.render import N_

# Each pattern matches one message the services raise, whole; its named groups fill the
# translation. Messages without a pattern are shown as the service wrote them.
_FIELD = r"(?P<field>[\w.\[\]]+)"
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), msgid)
    for p, msgid in [
        (r"thread (?P<id>\d+) not found", N_("Conversation %(id)s was not found.")),
        (r"inbox message (?P<id>\d+) not found", N_("Message %(id)s was not found.")),
        (r"lead (?P<id>\d+) not found", N_("Lead %(id)s was not found.")),
        (r"email (?P<id>\d+) not found", N_("Message %(id)s was not found.")),
        (r"webhook (?P<id>\d+) not found", N_("Webhook %(id)s was not found.")),
        (r"API key (?P<id>\d+) not found", N_("API key %(id)s was not found.")),
        (r"suppression (?P<id>\d+) not found", N_("Block-list entry %(id)s was not found.")),
        (r"account '?(?P<ref>[^']+?)'? not found", N_("Account %(ref)s was not found.")),
        (r"attachment (?P<id>\d+) not found", N_("Attachment %(id)s was not found.")),
        (
            r"account '(?P<account>.+)' is being synced right now; try again shortly",
            N_("The account %(account)s is syncing right now; try again in a moment."),
        ),
        (
            r"viewers can read mail but not act on it",
            N_("Viewers can read mail but not act on it."),
        ),
        (
            r"at least one recipient is required",
            N_("Give at least one recipient."),
        ),
        (
            _FIELD + r": (?P<address>.+) is not a valid e-mail address",
            N_("%(field)s: %(address)s is not a valid e-mail address."),
        ),
        (
            _FIELD + r": (?P<address>.+) has an invalid domain",
            N_("%(field)s: the domain of %(address)s is not valid."),
        ),
        (_FIELD + r": an e-mail address is required", N_("%(field)s: give an e-mail address.")),
        (_FIELD + r": line breaks are not allowed", N_("%(field)s: line breaks are not allowed.")),
        (
            _FIELD + r": control characters are not allowed",
            N_("%(field)s: control characters are not allowed."),
        ),
        (
            r"unknown or inactive account '(?P<ref>.+)'",
            N_("The account %(ref)s does not exist or is not active."),
        ),
        (
            r"no active account sends as '(?P<route>.+)'",
            N_("No active account sends as %(route)s."),
        ),
        (
            _FIELD + r" must be one of (?P<values>.+)",
            N_("%(field)s must be one of: %(values)s."),
        ),
        (r"since must be before until", N_("The start date must be before the end date.")),
        (
            r"cursor is not one this server gave",
            N_("This page link is out of date; go back to the first page."),
        ),
        (r"url: must start with https:// or http://", N_("The URL must start with https://.")),
        (r"url: has no host name", N_("The URL has no host name.")),
        (r"url: not a valid URL", N_("The URL is not valid.")),
        (
            r"email (?P<id>\d+) is (?P<status>\w+) and can no longer be cancelled",
            N_("Message %(id)s is %(status)s and can no longer be cancelled."),
        ),
        (
            r"email (?P<id>\d+) is (?P<status>\w+); only failed or dead ones are retried",
            N_("Message %(id)s is %(status)s; only failed or dead messages are sent again."),
        ),
        (
            r"email (?P<id>\d+) is (?P<status>\w+), not held for review",
            N_("Message %(id)s is %(status)s, not held for review."),
        ),
        (
            r"template (?P<name>\S+) needs variable (?P<var>\S+)",
            N_("The template %(name)s needs the variable %(var)s."),
        ),
        (
            r"template (?P<name>\S+) has no variable (?P<vars>.+) "
            r"\(it declares: (?P<declared>.*)\)",
            N_("The template %(name)s has no variable %(vars)s (it has: %(declared)s)."),
        ),
        (
            r"type the template's name to confirm",
            N_("Type the template's name to confirm."),
        ),
        (r"WhatsApp number (?P<ref>.+) not found", N_("WhatsApp number %(ref)s was not found.")),
        (r"template (?P<id>\d+) not found", N_("Template %(id)s was not found.")),
        # The campaign builder.
        (r"choose a saved segment", N_("Choose a saved segment.")),
        (
            r"give at least one condition \(tag, status or consent\), or choose a segment",
            N_("Give at least one condition (tag, status or consent), or choose a segment."),
        ),
        (r"give an address for the test message", N_("Give an address for the test message.")),
        (_FIELD + r" must be a number", N_("%(field)s must be a number.")),
        (r"send_at must be a date and time", N_("Give the date and time to send.")),
        (
            r"the pre-flight check failed \((?P<n>\d+) error\(s\)\); first: (?P<first>.+)",
            N_("The pre-flight check found %(n)s error(s); the first: %(first)s"),
        ),
        (
            r"an A/B test needs at least two variants",
            N_("An A/B test needs at least two variants: fill in variant B."),
        ),
        (r"the window ends before it starts", N_("The window ends before it starts.")),
        (
            r"mode 'local' needs window_start and window_end \(HH:MM\)",
            N_("Sending in local time needs the window's start and end."),
        ),
        (r"mode 'at' needs send_at", N_("Give the date and time to send.")),
        (
            r"line (?P<n>\d+) must read name = value, the name in letters, digits and _",
            N_("Line %(n)s of the variables must read name = value (letters, digits and _)."),
        ),
        (
            r"line (?P<n>\d+) repeats the variable (?P<name>\w+)",
            N_("Line %(n)s repeats the variable %(name)s."),
        ),
    ]
]


def translate(locale: str, message: str) -> str:
    """`message` in `locale` when it is one the catalogue knows, else as written."""
    for pattern, msgid in PATTERNS:
        found = pattern.fullmatch(message)
        if found:
            return i18n.gettext(locale, msgid, **found.groupdict())
    return message


def message_of(request: Request, exc: CarteiroError) -> str:
    """The error's message in the request's language."""
    return translate(render.locale_of(request), exc.message)
