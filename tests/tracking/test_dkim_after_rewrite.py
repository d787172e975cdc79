"""A tracked message through the real SMTP sink: its DKIM signature covers the rewritten body,
and every link in the received bytes resolves through /t/ to what the author wrote."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage

import dkim
from fastapi.testclient import TestClient

from carteiro.api.app import create_app
from carteiro.outbound import service
from carteiro.outbound.dkim import keys as dkim_keys
from carteiro.outbound.schemas import EmailCreate
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.testing.runs import email_status, run_dispatcher_until
from carteiro.testing.smtp_server import SmtpSink

PUBLIC = "https://mail.carteiro.test"
HTML = (
    "<!doctype html><html><head><title>Novidades</title></head><body>"
    '<p>Olá, Ana! Confira a <a href="https://loja.example/oferta?cupom=VERÃO&amp;utm_source=news'
    '#detalhes">oferta de verão</a> e o <a href="https://exämple.com.br/catálogo">catálogo</a>.</p>'
    '<p><a href="mailto:vendas@example.com">Fale conosco</a> · <a href="tel:+551130000000">'
    "ligue</a></p>" + "<p>" + "texto longo para quebrar linhas " * 40 + "</p></body></html>"
)
TEXT = "Olá, Ana! Oferta: https://loja.example/oferta?cupom=VERÃO&utm_source=news#detalhes\n"
ORIGINALS = {
    "https://loja.example/oferta?cupom=VER%C3%83O&utm_source=news#detalhes",
    "https://xn--exmple-cua.com.br/cat%C3%A1logo",
}


def _zone(runtime: Runtime, principal: Principal) -> dict[bytes, bytes]:
    with runtime.db.session() as session:
        key = dkim_keys.generate_key(
            session, tenant_id=principal.tenant_id, domain="example.com", vault=runtime.vault
        )
        record = dkim_keys.dns_record(key)
    return {f"{record.name}.".encode(): record.value.encode()}


def _part(message: EmailMessage, subtype: str) -> str:
    found = message.get_body(preferencelist=(subtype,))
    assert found is not None
    content: str = found.get_content()  # type: ignore[attr-defined]
    return content


async def test_dkim_verifies_and_links_resolve(
    runtime: Runtime, principal: Principal, sink: SmtpSink, smtp_account: int, api_key: str
) -> None:
    zone = _zone(runtime, principal)
    with runtime.db.session() as session:
        queued, _ = service.create(
            session,
            principal=principal,
            data=EmailCreate(
                to_email="ana@example.org",
                subject="Novidades",
                body=TEXT,
                html_body=HTML,
                account="sink",
                track=True,
            ),
            settings=runtime.settings,
        )
    await run_dispatcher_until(runtime, lambda: email_status(runtime, queued.id) == "sent")
    (got,) = sink.messages
    assert dkim.verify(got.data, dnsfunc=lambda name, timeout=5: zone.get(name, b""))
    message = email.message_from_bytes(got.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html, text = _part(message, "html"), _part(message, "plain")
    assert "loja.example" not in html and "exämple" not in html
    assert 'href="mailto:vendas@example.com"' in html and 'href="tel:+551130000000"' in html
    tracked = re.findall(rf'href="{PUBLIC}(/t/[^/"]+/\d+)"', html)
    pixel = re.findall(rf'src="{PUBLIC}(/t/[^/"]+/o\.gif)"', html)
    assert len(tracked) == 3 and len(pixel) == 1  # two links and the trap
    assert html.index(pixel[0]) < html.index("Olá, Ana")
    in_text = re.findall(rf"{PUBLIC}(/t/[^/\s]+/\d+)", text)
    assert in_text == [tracked[1]]  # same URL, same index as the HTML's first link
    # Tampering with a rewritten link breaks the signature.
    assert not dkim.verify(
        got.data.replace(b"/t/", b"/x/", 1), dnsfunc=lambda name, timeout=5: zone.get(name, b"")
    )
    with TestClient(create_app(runtime, run_worker=False)) as client:
        locations = {
            client.get(path, follow_redirects=False).headers.get("location") for path in tracked
        }
        assert client.get(pixel[0]).headers["content-type"] == "image/gif"
        stats = client.get(
            f"/emails/{queued.id}/tracking", headers={"Authorization": f"Bearer {api_key}"}
        ).json()
    assert locations == ORIGINALS | {None}  # the trap answers without a Location
    assert stats["clicks"]["unclassified"] == 2 and stats["opens"]["unclassified"] == 1
