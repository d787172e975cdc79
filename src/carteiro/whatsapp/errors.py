"""Cloud API error codes mapped to what a dispatch does next (Meta's table; see the README)."""

from __future__ import annotations

from carteiro.whatsapp.provider import ErrorClass

THROTTLED = {4, 80007, 130429, 131056}
TRANSIENT = {1, 2, 131000, 131016, 135000}
WINDOW_CLOSED = {131047}
RECIPIENT = {131026, 131030, 131021, 131062}
OPT_OUT = {131050, 131049}
PAYLOAD = {131008, 131009, 131051, 100}
ACCOUNT = {0, 3, 10, 190, 368, 131031, 130497, 131042, 131057, 131048, 131064}

# Meta's pair limit: about one message per 6 seconds to the same person.
PAIR_RETRY_SECONDS = 6.0


def classify(code: int) -> ErrorClass:
    if code in THROTTLED:
        return ErrorClass.THROTTLED
    if code in TRANSIENT:
        return ErrorClass.TRANSIENT
    if code in WINDOW_CLOSED:
        return ErrorClass.WINDOW_CLOSED
    if code in RECIPIENT:
        return ErrorClass.RECIPIENT
    if code in OPT_OUT:
        return ErrorClass.OPT_OUT
    if 132000 <= code <= 132999 or code in PAYLOAD:
        return ErrorClass.PAYLOAD
    if code in ACCOUNT or 200 <= code <= 299:
        return ErrorClass.ACCOUNT
    return ErrorClass.TRANSIENT


def retry_hint(code: int) -> float | None:
    return PAIR_RETRY_SECONDS if code == 131056 else None
