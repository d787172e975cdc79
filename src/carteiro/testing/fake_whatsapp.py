"""A fake WhatsApp Cloud API (and Evolution gateway) for tests: Meta's exact response shapes,
scripted errors, per-number rate limits, the 24 h window with its late 131047, and signed
status webhooks (duplicates, reordering, bad signatures), inbound messages and opt-outs.

Serve `FakeCloudApi.app` on loopback (`serve_in_thread`) or in-process with `transport()`.
It keeps no idempotency: Meta has none, so a double send shows up in `outbox`."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from carteiro.whatsapp.signature import sign

ERROR_TITLES = {
    130429: "Rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131026: "Message Undeliverable",
    131047: "Re-engagement message",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving "
    "marketing messages on WhatsApp from your business",
    131030: "Recipient phone number not in allowed list",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132015: "Template is Paused",
    190: "Invalid OAuth access token - Cannot parse access token",
    368: "Temporarily blocked for policies violations",
    131042: "Business eligibility payment issue",
    131016: "Service unavailable",
    131000: "Something went wrong",
}


def graph_error(code: int, details: str | None = None) -> dict[str, Any]:
    title = ERROR_TITLES.get(code, "Error")
    return {
        "error": {
            "message": f"(#{code}) {title}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or title},
            "fbtrace_id": "A" + secrets.token_hex(10),
        }
    }


@dataclass
class Rule:
    """A scripted answer for the next matching send: a Graph error code, an HTTP 5xx, or a
    timeout after the message was accepted (recorded, then no answer)."""

    code: int | None = None
    http_status: int = 400
    hang: bool = False
    to: str | None = None
    times: int = 1


@dataclass
class Sent:
    message_id: str
    phone_number_id: str
    to: str
    wa_id: str
    type: str
    body: dict[str, Any]
    correlation: str | None
    at: float


@dataclass
class FakeCloudApi:
    tokens: dict[str, str] = field(default_factory=dict)  # phone_number_id -> token
    app_secret: str = "app-secret"
    # name -> number of body parameters (and whether they are named)
    templates: dict[tuple[str, str], tuple[int, bool]] = field(default_factory=dict)
    wa_ids: dict[str, str] = field(default_factory=dict)  # input digits -> wa_id
    rate_per_second: float | None = None
    pair_interval: float | None = None
    hang_seconds: float = 30.0
    # True: text outside the window is refused synchronously (131047) instead of later.
    window_sync: bool = False
    outbox: list[Sent] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    last_inbound: dict[str, float] = field(default_factory=dict)
    pending_statuses: list[dict[str, Any]] = field(default_factory=list)
    rate_violations: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._pairs: dict[tuple[str, str], float] = {}
        self.app = Starlette(
            routes=[Route("/{version}/{phone_number_id}/messages", self._send, methods=["POST"])]
        )

    # --- set-up -------------------------------------------------------------------------------
    def add_number(self, phone_number_id: str, token: str) -> None:
        self.tokens[phone_number_id] = token

    def add_template(
        self, name: str, params: int, *, named: bool = True, lang: str = "pt_BR"
    ) -> None:
        self.templates[(name, lang)] = (params, named)

    def script(self, *rules: Rule) -> None:
        with self._lock:
            self.rules.extend(rules)

    def transport(self) -> httpx.AsyncBaseTransport:
        return _Transport(self)

    # --- the Graph endpoint -------------------------------------------------------------------
    async def _send(self, request: Request) -> JSONResponse:
        number = request.path_params["phone_number_id"]
        auth = request.headers.get("authorization", "")
        if number not in self.tokens or auth != f"Bearer {self.tokens[number]}":
            return JSONResponse(graph_error(190), status_code=401)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse(graph_error(100, "invalid JSON"), status_code=400)
        if body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return JSONResponse(graph_error(100, "messaging_product and to are required"), 400)
        to = str(body["to"])
        rule = self._take_rule(to)
        if rule is not None and not rule.hang:
            if rule.code is None:
                return JSONResponse({"error": "internal"}, status_code=rule.http_status)
            return JSONResponse(graph_error(rule.code), status_code=rule.http_status)
        refused = self._limits(number, to)
        if refused is not None:
            return JSONResponse(graph_error(refused), status_code=400)
        kind = body.get("type")
        if kind == "text":
            text = (body.get("text") or {}).get("body") or ""
            if not text or len(text) > 4096:
                return JSONResponse(graph_error(100, "text.body is 1 to 4096 characters"), 400)
        elif kind == "template":
            problem = self._check_template(body.get("template") or {})
            if problem is not None:
                return JSONResponse(graph_error(problem), status_code=400)
        else:
            return JSONResponse(graph_error(131051, f"unsupported type {kind}"), 400)
        wa_id = self.wa_ids.get(to, to)
        window_closed = kind == "text" and not self._window_open(wa_id)
        if window_closed and self.window_sync:
            return JSONResponse(graph_error(131047), status_code=400)
        sent = Sent(
            message_id="wamid." + secrets.token_urlsafe(24),
            phone_number_id=number,
            to=to,
            wa_id=wa_id,
            type=str(kind),
            body=body,
            correlation=body.get("biz_opaque_callback_data"),
            at=time.time(),
        )
        with self._lock:
            self.outbox.append(sent)
            if window_closed:
                self.pending_statuses.append(self.status(sent, "failed", error=131047))
        if rule is not None and rule.hang:
            await asyncio.sleep(self.hang_seconds)
        message: dict[str, Any] = {"id": sent.message_id}
        if kind == "template":
            message["message_status"] = "accepted"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [message],
            }
        )

    def _take_rule(self, to: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.to is None or rule.to == to:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                    return rule
        return None

    def _limits(self, number: str, to: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            if self.rate_per_second:
                tokens, last = self._buckets.get(number, (self.rate_per_second, now))
                tokens = min(self.rate_per_second, tokens + (now - last) * self.rate_per_second)
                if tokens < 1:
                    self.rate_violations += 1
                    self._buckets[number] = (tokens, now)
                    return 130429
                self._buckets[number] = (tokens - 1, now)
            if self.pair_interval:
                last_pair = self._pairs.get((number, to))
                if last_pair is not None and now - last_pair < self.pair_interval:
                    return 131056
                self._pairs[(number, to)] = now
        return None

    def _check_template(self, template: dict[str, Any]) -> int | None:
        name = template.get("name")
        lang = (template.get("language") or {}).get("code")
        known = self.templates.get((str(name), str(lang)))
        if known is None:
            return 132001
        count, named = known
        params: list[dict[str, Any]] = []
        for component in template.get("components") or []:
            if component.get("type") == "body":
                params.extend(component.get("parameters") or [])
        if len(params) != count:
            return 132000
        if named and any("parameter_name" not in p for p in params):
            return 132012
        return None

    def _window_open(self, wa_id: str) -> bool:
        last = self.last_inbound.get(wa_id)
        return last is not None and time.time() < last + 24 * 3600

    # --- webhooks -----------------------------------------------------------------------------
    def status(
        self, sent: Sent, status: str, *, error: int | None = None, at: float | None = None
    ) -> dict[str, Any]:
        s: dict[str, Any] = {
            "id": sent.message_id,
            "status": status,
            "timestamp": str(int(at or time.time())),
            "recipient_id": sent.wa_id,
            "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"},
        }
        if sent.correlation:
            s["biz_opaque_callback_data"] = sent.correlation
        if error is not None:
            s["errors"] = [
                {
                    "code": error,
                    "title": ERROR_TITLES.get(error, "Error"),
                    "message": ERROR_TITLES.get(error, "Error"),
                    "error_data": {"details": ERROR_TITLES.get(error, "Error")},
                }
            ]
        return s

    def envelope(self, phone_number_id: str, value: dict[str, Any]) -> bytes:
        body = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA-1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "5511900000000",
                                    "phone_number_id": phone_number_id,
                                },
                                **value,
                            },
                        }
                    ],
                }
            ],
        }
        return json.dumps(body).encode()

    def statuses_webhook(self, statuses: list[dict[str, Any]], phone_number_id: str) -> bytes:
        return self.envelope(phone_number_id, {"statuses": statuses})

    def inbound_webhook(self, phone_number_id: str, wa_id: str, text: str) -> bytes:
        """A person writes: opens the window here too."""
        self.last_inbound[wa_id] = time.time()
        message = {
            "from": wa_id,
            "id": "wamid." + secrets.token_urlsafe(24),
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": text},
        }
        contacts = [{"profile": {"name": "Cliente"}, "wa_id": wa_id}]
        return self.envelope(phone_number_id, {"contacts": contacts, "messages": [message]})

    def preferences_webhook(self, phone_number_id: str, wa_id: str, value: str) -> bytes:
        prefs = [{"wa_id": wa_id, "detail": "", "category": "marketing_messages", "value": value}]
        return self.envelope(phone_number_id, {"user_preferences": prefs})

    def signature(self, raw: bytes, *, bad: bool = False) -> str:
        return sign("wrong-secret" if bad else self.app_secret, raw)

    def take_pending(self) -> list[dict[str, Any]]:
        with self._lock:
            out, self.pending_statuses = self.pending_statuses, []
        return out


class _Transport(httpx.AsyncBaseTransport):
    """In-process, with the client's read timeout applied (ASGI transports ignore it), so a
    hanging answer ends as the ReadTimeout a real network would give."""

    def __init__(self, fake: FakeCloudApi) -> None:
        self._inner = httpx.ASGITransport(app=fake.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = (request.extensions.get("timeout") or {}).get("read")
        try:
            return await asyncio.wait_for(self._inner.handle_async_request(request), timeout)
        except TimeoutError:
            raise httpx.ReadTimeout("the fake did not answer in time", request=request) from None


@dataclass
class FakeEvolution:
    """The Evolution gateway's `sendText` (201 with the stored message, 400 for a number not on
    WhatsApp) and its `messages.update` webhooks."""

    api_key: str = "evo-key"
    not_on_whatsapp: set[str] = field(default_factory=set)
    banned: bool = False
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[Route("/message/sendText/{instance}", self._send, methods=["POST"])]
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.app)

    async def _send(self, request: Request) -> JSONResponse:
        if request.headers.get("apikey") != self.api_key:
            return JSONResponse({"status": 401, "error": "Unauthorized"}, status_code=401)
        if self.banned:
            return JSONResponse(
                {
                    "status": 403,
                    "error": "Forbidden",
                    "response": {"message": ["Connection Closed"]},
                },
                status_code=403,
            )
        body = json.loads(await request.body())
        number = str(body.get("number") or "")
        if number in self.not_on_whatsapp:
            jid = f"{number}@s.whatsapp.net"
            return JSONResponse(
                {
                    "status": 400,
                    "error": "Bad Request",
                    "response": {"message": [{"exists": False, "jid": jid, "number": number}]},
                },
                status_code=400,
            )
        key = {
            "remoteJid": f"{number}@s.whatsapp.net",
            "fromMe": True,
            "id": secrets.token_hex(8).upper(),
        }
        self.outbox.append({"key": key, "text": body.get("text"), "number": number})
        return JSONResponse(
            {
                "key": key,
                "pushName": "Você",
                "status": "PENDING",
                "message": {"conversation": body.get("text")},
                "messageType": "conversation",
                "messageTimestamp": int(time.time()),
                "instanceId": request.path_params["instance"],
                "source": "unknown",
            },
            status_code=201,
        )

    def update_webhook(self, instance: str, key_id: str, status: str) -> bytes:
        sent = next(m for m in self.outbox if m["key"]["id"] == key_id)
        return json.dumps(
            {
                "event": "messages.update",
                "instance": instance,
                "data": {
                    "keyId": key_id,
                    "remoteJid": sent["key"]["remoteJid"],
                    "fromMe": True,
                    "status": status,
                    "instanceId": instance,
                    "messageId": key_id,
                },
                "date_time": "2026-12-01T12:00:00.000Z",
                "apikey": self.api_key,
            }
        ).encode()
