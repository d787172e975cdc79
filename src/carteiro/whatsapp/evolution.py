"""Evolution API gateway (unofficial, WhatsApp Web): `POST {base}/message/sendText/{instance}`.

Off by default: numbers driven this way are often banned (see the README); it has no
templates and no 24 h rule, so templates are rendered to plain text locally."""

from __future__ import annotations

from typing import Any

import httpx

from carteiro.whatsapp.provider import ErrorClass, ProviderError, SendResult, TemplateMessage


class EvolutionProvider:
    kind = "evolution"
    window_rule = False

    def __init__(
        self,
        *,
        base_url: str,
        instance: str,
        api_key: str,
        timeout: float = 20.0,
        typing_delay_ms: int = 1200,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._path = f"/message/sendText/{instance}"
        self._delay = typing_delay_ms
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"apikey": api_key},
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    async def send_text(self, *, to: str, body: str, correlation: str) -> SendResult:
        payload = {"number": to, "text": body, "delay": self._delay, "linkPreview": False}
        try:
            response = await self._client.post(self._path, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return SendResult(None, error=ProviderError(ErrorClass.TRANSIENT, "connect", str(exc)))
        except httpx.TransportError as exc:
            message = f"{type(exc).__name__} after the request was sent"
            return SendResult(None, error=ProviderError(ErrorClass.AMBIGUOUS, "timeout", message))
        if response.status_code in (200, 201):
            data: dict[str, Any] = response.json()
            key = data.get("key") or {}
            jid = str(key.get("remoteJid") or "")
            return SendResult(
                message_id=key.get("id"),
                recipient_id=jid.split("@", 1)[0] or None,
                provider_status=data.get("status"),
            )
        return SendResult(None, error=_error(response))

    async def send_template(
        self, *, to: str, template: TemplateMessage, correlation: str
    ) -> SendResult:
        raise NotImplementedError("the gateway has no templates; render them to text first")

    async def aclose(self) -> None:
        await self._client.aclose()


def _error(response: httpx.Response) -> ProviderError:
    text = response.text[:300]
    if response.status_code == 400 and '"exists":false' in text.replace(" ", ""):
        return ProviderError(ErrorClass.RECIPIENT, "not_on_whatsapp", text)
    if response.status_code in (401, 403):
        return ProviderError(ErrorClass.ACCOUNT, f"http:{response.status_code}", text)
    if response.status_code == 429 or response.status_code >= 500:
        return ProviderError(ErrorClass.TRANSIENT, f"http:{response.status_code}", text)
    return ProviderError(ErrorClass.PAYLOAD, f"http:{response.status_code}", text)
