"""The fake Cloud API keeps Meta's shapes and rules, so the tests built on it mean something."""

from __future__ import annotations

import httpx
import pytest

from carteiro.testing.fake_whatsapp import FakeCloudApi, Rule
from carteiro.whatsapp import events, signature
from carteiro.whatsapp.cloud import CloudApiProvider
from carteiro.whatsapp.provider import ErrorClass, TemplateMessage

NUMBER = "1122334455"


@pytest.fixture
def fake() -> FakeCloudApi:
    f = FakeCloudApi()
    f.add_number(NUMBER, "tok")
    f.add_template("aviso", 1)
    f.add_template("posicional", 2, named=False)
    return f


def provider(fake: FakeCloudApi, token: str = "tok") -> CloudApiProvider:
    return CloudApiProvider(
        base_url="http://graph",
        version="v25.0",
        phone_number_id=NUMBER,
        token=token,
        timeout=0.3,
        transport=fake.transport(),
    )


async def test_exact_success_shape_and_wa_id(fake: FakeCloudApi) -> None:
    fake.wa_ids["5511987654321"] = "551187654321"  # an old account without the ninth digit
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://graph") as client:
        r = await client.post(
            f"/v25.0/{NUMBER}/messages",
            headers={"Authorization": "Bearer tok"},
            json={
                "messaging_product": "whatsapp",
                "to": "5511987654321",
                "type": "template",
                "template": {
                    "name": "aviso",
                    "language": {"code": "pt_BR", "policy": "deterministic"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "text": "Maria", "parameter_name": "nome"}
                            ],
                        }
                    ],
                },
            },
        )
    body = r.json()
    assert r.status_code == 200
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "5511987654321", "wa_id": "551187654321"}]
    assert body["messages"][0]["id"].startswith("wamid.")
    assert body["messages"][0]["message_status"] == "accepted"


async def test_errors_have_graph_shape_and_are_classified(fake: FakeCloudApi) -> None:
    p = provider(fake)
    wrong = await provider(fake, token="nope").send_text(
        to="5511987654321", body="x", correlation="c"
    )
    assert wrong.error is not None and wrong.error.code == "190"
    assert wrong.error.cls == ErrorClass.ACCOUNT
    missing = await p.send_template(
        to="5511987654321",
        template=TemplateMessage("nao_existe", "pt_BR", [("a", "b")]),
        correlation="c",
    )
    assert missing.error is not None and missing.error.code == "132001"
    assert missing.error.cls == ErrorClass.PAYLOAD
    count = await p.send_template(
        to="5511987654321", template=TemplateMessage("aviso", "pt_BR", []), correlation="c"
    )
    assert count.error is not None and count.error.code == "132000"
    unnamed = await p.send_template(
        to="5511987654321",
        template=TemplateMessage("aviso", "pt_BR", [("nome", "x")], named=False),
        correlation="c",
    )
    assert unnamed.error is not None and unnamed.error.code == "132012"
    positional = await p.send_template(
        to="5511987654321",
        template=TemplateMessage("posicional", "pt_BR", [("1", "a"), ("2", "b")], named=False),
        correlation="c",
    )
    assert positional.accepted
    for code, cls in [
        (130429, ErrorClass.THROTTLED),
        (131056, ErrorClass.THROTTLED),
        (131026, ErrorClass.RECIPIENT),
        (131050, ErrorClass.OPT_OUT),
        (368, ErrorClass.ACCOUNT),
    ]:
        fake.script(Rule(code=code))
        got = await p.send_text(to="5511987654321", body="x", correlation="c")
        assert got.error is not None and (got.error.code, got.error.cls) == (str(code), cls)
    fake.script(Rule(code=None, http_status=503))
    got = await p.send_text(to="5511987654321", body="x", correlation="c")
    assert got.error is not None and got.error.cls == ErrorClass.TRANSIENT
    await p.aclose()


async def test_timeout_after_accepting_records_the_message(fake: FakeCloudApi) -> None:
    fake.hang_seconds = 2
    fake.script(Rule(hang=True))
    got = await provider(fake).send_text(to="5511987654321", body="x", correlation="corr-1")
    assert got.error is not None and got.error.cls == ErrorClass.AMBIGUOUS
    assert [s.correlation for s in fake.outbox] == ["corr-1"]


async def test_rate_and_pair_limits(fake: FakeCloudApi) -> None:
    fake.rate_per_second = 2
    p = provider(fake)
    codes = []
    for i in range(4):
        got = await p.send_text(to=f"55119876543{i:02d}", body="x", correlation="c")
        codes.append(got.error.code if got.error else "ok")
    assert codes[:2] == ["ok", "ok"] and "130429" in codes[2:]
    fake.rate_per_second = None
    fake.pair_interval = 6
    first = await p.send_text(to="5511900000000", body="x", correlation="c")
    second = await p.send_text(to="5511900000000", body="x", correlation="c")
    assert first.accepted and second.error is not None and second.error.code == "131056"


async def test_window_closed_text_is_accepted_then_failed_by_webhook(fake: FakeCloudApi) -> None:
    p = provider(fake)
    got = await p.send_text(to="5511987654321", body="oi", correlation="c1")
    assert got.accepted  # Meta accepts it synchronously...
    pending = fake.take_pending()
    raw = fake.statuses_webhook(pending, NUMBER)
    (event,) = events.parse_cloud(raw)  # ...and fails it later with 131047
    assert isinstance(event, events.StatusEvent)
    assert (event.status, event.error_code, event.correlation) == ("failed", 131047, "c1")
    fake.inbound_webhook(NUMBER, "5511987654321", "oi")
    again = await p.send_text(to="5511987654321", body="oi", correlation="c2")
    assert again.accepted and fake.take_pending() == []


def test_webhooks_are_signed_and_parse_back(fake: FakeCloudApi) -> None:
    raw = fake.inbound_webhook(NUMBER, "5511987654321", "PARAR")
    assert signature.verify("app-secret", raw, fake.signature(raw))
    assert not signature.verify("app-secret", raw, fake.signature(raw, bad=True))
    assert not signature.verify("app-secret", raw + b" ", fake.signature(raw))
    (inbound,) = events.parse_cloud(raw)
    assert isinstance(inbound, events.InboundEvent) and inbound.text == "PARAR"
    (pref,) = events.parse_cloud(fake.preferences_webhook(NUMBER, "5511987654321", "stop"))
    assert isinstance(pref, events.PreferenceEvent) and pref.value == "stop"
