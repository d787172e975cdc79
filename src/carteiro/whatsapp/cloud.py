"""The official WhatsApp Business Cloud API: `POST {base}/{version}/{phone-number-id}/messages`."""

from __future__ import annotations

from typing import Any

import httpx

from carteiro.whatsapp.errors import classify, retry_hint
from carteiro.whatsapp.provider import ErrorClass, ProviderError, SendResult, TemplateMessage


def _template_body(t: TemplateMessage) -> dict[str, Any]:
    template: dict[str, Any] = {
        "name": t.name,
        "language": {"code": t.language, "policy": "deterministic"},
    }
    if t.params:
        parameters = []
        for name, value in t.params:
            p: dict[str, Any] = {"type": "text", "text": value}
            if t.named:
                p["parameter_name"] = name
            parameters.append(p)
        template["components"] = [{"type": "body", "parameters": parameters}]
    return template


def graph_error(response: httpx.Response) -> ProviderError:
    """The Graph error body's `error.code` decides; the HTTP status does not (Meta's advice)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    if not isinstance(code, int):
        cls = ErrorClass.TRANSIENT if response.status_code >= 500 else ErrorClass.PAYLOAD
        return ProviderError(cls, f"http:{response.status_code}", response.text[:300])
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    message = str(details or error.get("message") or "")[:500]
    return ProviderError(classify(code), str(code), message, retry_after=retry_hint(code))


class CloudApiProvider:
    kind = "cloud"
    window_rule = True

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        phone_number_id: str,
        token: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._path = f"/{version}/{phone_number_id}/messages"
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    async def send_text(self, *, to: str, body: str, correlation: str) -> SendResult:
        return await self._post(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {"preview_url": False, "body": body},
                "biz_opaque_callback_data": correlation,
            }
        )

    async def send_template(
        self, *, to: str, template: TemplateMessage, correlation: str
    ) -> SendResult:
        return await self._post(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "template",
                "template": _template_body(template),
                "biz_opaque_callback_data": correlation,
            }
        )

    async def _post(self, body: dict[str, Any]) -> SendResult:
        try:
            response = await self._client.post(self._path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached Meta: safe to try again.
            return SendResult(None, error=ProviderError(ErrorClass.TRANSIENT, "connect", str(exc)))
        except httpx.TransportError as exc:
            # The request (or part of it) left: Meta may have accepted it, and it has no
            # idempotency key, so this attempt is settled by a status webhook, not a resend.
            message = f"{type(exc).__name__} after the request was sent"
            return SendResult(None, error=ProviderError(ErrorClass.AMBIGUOUS, "timeout", message))
        if response.status_code != 200:
            return SendResult(None, error=graph_error(response))
        data = response.json()
        messages = data.get("messages") or [{}]
        contacts = data.get("contacts") or [{}]
        return SendResult(
            message_id=messages[0].get("id"),
            recipient_id=contacts[0].get("wa_id"),
            provider_status=messages[0].get("message_status", "accepted"),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
