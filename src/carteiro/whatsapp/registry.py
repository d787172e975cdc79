"""One provider client per WhatsApp number in a process, built from the number's row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from carteiro.accounts.vault import Vault
from carteiro.config import Settings
from carteiro.whatsapp.cloud import CloudApiProvider
from carteiro.whatsapp.evolution import EvolutionProvider
from carteiro.whatsapp.models import WhatsAppNumber
from carteiro.whatsapp.provider import WhatsAppProvider

# Tests (and the benchmark) route a number's HTTP to an in-process fake by its base URL.
TransportFor = Callable[[str], httpx.AsyncBaseTransport | None]


@dataclass
class Providers:
    settings: Settings
    vault: Vault
    transport_for: TransportFor | None = None
    _clients: dict[tuple[int, str], WhatsAppProvider] = field(default_factory=dict)

    def for_number(self, number: WhatsAppNumber) -> WhatsAppProvider:
        # Keyed by the encrypted token too: a rotated token gets a new client.
        key = (number.id, number.token_enc)
        client = self._clients.get(key)
        if client is None:
            client = self._build(number)
            self._clients[key] = client
        return client

    def _build(self, number: WhatsAppNumber) -> WhatsAppProvider:
        s = self.settings
        token = self.vault.decrypt(number.token_enc)
        if number.provider == "evolution":
            base = number.base_url or ""
            return EvolutionProvider(
                base_url=base,
                instance=number.phone_number_id,
                api_key=token,
                transport=self.transport_for(base) if self.transport_for else None,
            )
        base = number.base_url or s.whatsapp_graph_base_url
        return CloudApiProvider(
            base_url=base,
            version=s.whatsapp_graph_version,
            phone_number_id=number.phone_number_id,
            token=token,
            timeout=s.whatsapp_timeout,
            transport=self.transport_for(base) if self.transport_for else None,
        )

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
