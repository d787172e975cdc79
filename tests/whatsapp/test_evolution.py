"""The Evolution gateway adapter against its fake: sendText shapes, errors, off by default."""

from __future__ import annotations

from carteiro.testing.fake_whatsapp import FakeEvolution
from carteiro.whatsapp.evolution import EvolutionProvider
from carteiro.whatsapp.provider import ErrorClass


def _provider(fake: FakeEvolution, key: str = "evo-key") -> EvolutionProvider:
    return EvolutionProvider(
        base_url="http://evo", instance="carteiro-01", api_key=key, transport=fake.transport()
    )


async def test_send_text_and_errors() -> None:
    fake = FakeEvolution()
    fake.not_on_whatsapp.add("5511900000000")
    p = _provider(fake)
    ok = await p.send_text(to="5511987654321", body="Olá", correlation="c")
    assert ok.accepted and ok.recipient_id == "5511987654321"
    assert fake.outbox[0]["text"] == "Olá"
    ghost = await p.send_text(to="5511900000000", body="Olá", correlation="c")
    assert ghost.error is not None and ghost.error.cls == ErrorClass.RECIPIENT
    bad = await _provider(fake, key="wrong").send_text(
        to="5511987654321", body="x", correlation="c"
    )
    assert bad.error is not None and bad.error.cls == ErrorClass.ACCOUNT
    fake.banned = True
    banned = await p.send_text(to="5511987654321", body="x", correlation="c")
    assert banned.error is not None and banned.error.cls == ErrorClass.ACCOUNT
    await p.aclose()
