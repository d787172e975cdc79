"""Tracking through a running Carteiro: a tracked message leaves with /t/ links that answer 307
to what the author wrote, its pixel is a GIF, and the hits come back classified."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import httpx
import pytest
from e2ekit import received, wait_final, wait_until

from carteiro.testing.pipelining_sink import PipeliningSink
from conftest import Server

pytestmark = pytest.mark.e2e

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"


def test_tracked_links_redirect_and_hits_are_classified(
    server: Server, sink: PipeliningSink
) -> None:
    with server.client() as http:
        created = http.post(
            "/emails",
            json={
                "to_email": "ana@example.org",
                "subject": "Oferta",
                "body": "Veja https://loja.example/oferta?a=1&b=2",
                "html_body": '<html><body><p><a href="https://loja.example/oferta?a=1&amp;b=2">'
                'oferta</a> <a href="mailto:vendas@example.com">vendas</a></p></body></html>',
                "account": server.account,
                "track": True,
            },
        )
        assert created.status_code == 201, created.text
        email = wait_final(http, created.json()["id"])
        assert email["status"] == "sent", email
        message = message_from_bytes(received(sink, email["message_id"]).data, policy=default)
        assert isinstance(message, EmailMessage)
        part = message.get_body(preferencelist=("html",))
        assert part is not None
        html = part.get_content()  # type: ignore[attr-defined]
        base = re.escape(server.base_url)
        links = re.findall(rf'href="({base}/t/[^"]+/\d+)"', html)
        (pixel,) = re.findall(rf'src="({base}/t/[^"]+/o\.gif)"', html)
        assert 'href="mailto:vendas@example.com"' in html
        trap, link = links  # the hidden trap first, then the author's link
        with httpx.Client(headers={"User-Agent": IPHONE}, timeout=10) as visitor:
            opened = visitor.get(pixel)
            assert opened.status_code == 200
            assert opened.headers["content-type"] == "image/gif"
            clicked = visitor.get(link, follow_redirects=False)
            assert clicked.status_code == 307
            assert clicked.headers["location"] == "https://loja.example/oferta?a=1&b=2"
            assert visitor.get(link + "9", follow_redirects=False).status_code == 404

        def classified() -> dict | None:
            stats = http.get(f"/emails/{email['id']}/tracking").json()
            done = stats["opens"]["human"] == 1 and stats["clicks"]["human"] == 1
            return stats if done else None

        stats = wait_until(classified, 20, "the hits to be classified")
        assert stats["clicks"]["unclassified"] == stats["opens"]["unclassified"] == 0
        assert stats["human_clicks_by_link"] == {"0": 1}
        assert trap.rsplit("/", 1)[1] == "1"
