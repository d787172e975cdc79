"""Webhook bodies turned into events: statuses, inbound messages, opt-outs (Cloud and gateway)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Cloud API statuses, and Evolution's enum mapped onto them.
EVOLUTION_STATUS = {
    "SERVER_ACK": "sent",
    "DELIVERY_ACK": "delivered",
    "READ": "read",
    "PLAYED": "read",
    "ERROR": "failed",
}


@dataclass(frozen=True)
class StatusEvent:
    message_id: str
    status: str  # sent | delivered | read | failed | played
    at: datetime
    recipient_id: str | None = None
    correlation: str | None = None
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class InboundEvent:
    message_id: str
    wa_id: str
    at: datetime
    text: str | None


@dataclass(frozen=True)
class PreferenceEvent:
    wa_id: str
    value: str  # stop | resume


Event = StatusEvent | InboundEvent | PreferenceEvent


def _at(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def _status(s: dict[str, Any]) -> StatusEvent | None:
    if not isinstance(s.get("id"), str) or not isinstance(s.get("status"), str):
        return None
    errors = s.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    details = (first.get("error_data") or {}).get("details") if first else None
    code = first.get("code")
    return StatusEvent(
        message_id=s["id"],
        status=s["status"],
        at=_at(s.get("timestamp")),
        recipient_id=s.get("recipient_id"),
        correlation=s.get("biz_opaque_callback_data"),
        error_code=code if isinstance(code, int) else None,
        error_message=str(details or first.get("message") or "")[:500] or None,
    )


def _inbound(m: dict[str, Any]) -> InboundEvent | None:
    if not isinstance(m.get("id"), str) or not isinstance(m.get("from"), str):
        return None
    text = (m.get("text") or {}).get("body") if m.get("type") == "text" else None
    if m.get("type") == "button":
        text = (m.get("button") or {}).get("text")
    return InboundEvent(message_id=m["id"], wa_id=m["from"], at=_at(m.get("timestamp")), text=text)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _load(raw: bytes) -> Any:
    """The body's JSON without NUL characters, which PostgreSQL's text refuses: one in a
    person's message would fail its whole batch on every round (the webhook route has no NUL
    check of its own: the body is stored as it came, signed)."""
    data = json.loads(raw)
    # JSON text carries a NUL only escaped, so most bodies skip the walk.
    return _without_nul(data) if b"\\u0000" in raw else data


def parse_cloud(raw: bytes) -> list[Event]:
    """Every event in a Cloud API webhook; unknown parts are skipped, never fatal."""
    data = _load(raw)
    out: list[Event] = []
    for entry in data.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            for s in value.get("statuses") or []:
                if (event := _status(s)) is not None:
                    out.append(event)
            for m in value.get("messages") or []:
                if (inbound := _inbound(m)) is not None:
                    out.append(inbound)
            for p in value.get("user_preferences") or []:
                wa_id, pref = p.get("wa_id"), p.get("value")
                if isinstance(wa_id, str) and pref in ("stop", "resume"):
                    out.append(PreferenceEvent(wa_id=wa_id, value=pref))
    return out


def parse_evolution(raw: bytes) -> list[Event]:
    """Evolution's `messages.update` (statuses) and `messages.upsert` (inbound) events."""
    data = _load(raw)
    event, body = data.get("event"), data.get("data") or {}
    items = body if isinstance(body, list) else [body]
    out: list[Event] = []
    for item in items:
        if event == "messages.update":
            status = EVOLUTION_STATUS.get(str(item.get("status")))
            key_id = item.get("keyId") or item.get("messageId")
            if status and isinstance(key_id, str):
                jid = str(item.get("remoteJid") or "").split("@", 1)[0] or None
                out.append(StatusEvent(key_id, status, datetime.now(UTC), recipient_id=jid))
        elif event == "messages.upsert":
            key = item.get("key") or {}
            if key.get("fromMe") or not isinstance(key.get("id"), str):
                continue
            jid = str(key.get("remoteJid") or "").split("@", 1)[0]
            message = item.get("message") or {}
            text = message.get("conversation") or (message.get("extendedTextMessage") or {}).get(
                "text"
            )
            at = _at(item.get("messageTimestamp"))
            out.append(InboundEvent(message_id=key["id"], wa_id=jid, at=at, text=text))
    return out


def parse(provider: str, raw: bytes) -> list[Event]:
    return parse_cloud(raw) if provider == "cloud" else parse_evolution(raw)
