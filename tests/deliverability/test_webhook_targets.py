"""Webhook targets: only global addresses, a resolver failure is a refusal, and the POST goes
to the address that was checked (no second lookup of the name)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from carteiro import network
from carteiro.errors import InvalidInput
from carteiro.testing.http_receiver import HttpReceiver
from carteiro.webhooks import service as webhooks
from carteiro.webhooks.config import WebhookConfig
from carteiro.webhooks.delivery import Due, pin, post

STRICT = dataclasses.replace(WebhookConfig(), webhook_allow_private=False)


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT
        "100.127.255.254",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "192.0.0.1",
        "198.18.0.1",
        "240.0.0.1",
        "224.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_non_global_addresses_are_refused(address: str) -> None:
    assert not network.is_global(address)
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(InvalidInput):
        webhooks.validate_url(f"https://{host}/hook", allow_private=False)


def test_global_addresses_pass() -> None:
    for address in ("93.184.216.34", "2606:4700::6810:85e5", "::ffff:93.184.216.34"):
        assert network.is_global(address)


def due(url: str) -> Due:
    return Due(
        id=1, webhook_id=1, event_type="email.sent", attempt=1, payload={}, url=url, secret="s"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://100.64.0.1/hook",
        "http://[2002:7f00:1::1]/hook",
        # A name that does not resolve is refused, not posted to with whatever the resolver
        # says a moment later.
        "http://hooks.invalid/hook",
    ],
)
async def test_deliveries_to_refused_targets_never_connect(url: str) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        result = await post(client, due(url), STRICT)
    assert result.status_code is None and (result.error or "").startswith("refused: ")


async def test_the_post_goes_to_the_checked_address_with_the_names_host_header(
    receiver: HttpReceiver,
) -> None:
    # The name never resolves to the receiver: reaching it proves nothing looked it up again.
    url = f"http://hooks.example.com:{receiver.port}/hook"
    where = pin(url, "127.0.0.1")
    assert where.url == f"http://127.0.0.1:{receiver.port}/hook"
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(
            where.url, content=b"{}", headers=where.headers, extensions=where.extensions
        )
    assert response.status_code == 200
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.example.com:{receiver.port}"


def test_https_pins_keep_the_name_for_sni_and_certificates() -> None:
    where = pin("https://ação.example.com/h?x=1", "2606:4700::1")
    assert where.url == "https://[2606:4700::1]/h?x=1"
    assert where.headers == {"Host": "xn--ao-siap.example.com"}
    assert where.extensions == {"sni_hostname": "xn--ao-siap.example.com"}
