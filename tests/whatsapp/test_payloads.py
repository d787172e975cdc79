"""Parsing Meta's documented webhook payloads (golden copies) and the gateway's; templates."""

from __future__ import annotations

import json

import pytest

from carteiro.errors import InvalidInput
from carteiro.whatsapp import events, templates
from carteiro.whatsapp.errors import classify
from carteiro.whatsapp.models import WhatsAppTemplate
from carteiro.whatsapp.provider import ErrorClass

# Meta's status webhook reference (sent with biz_opaque_callback_data), and a failed status.
META_STATUS = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "WABA",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "5511",
                            "phone_number_id": "1122334455667",
                        },
                        "statuses": [
                            {
                                "id": "wamid.xyz",
                                "status": "sent",
                                "timestamp": "1698266945",
                                "recipient_id": "5511987654321",
                                "biz_opaque_callback_data": "disparo:01JF:a1",
                                "conversation": {
                                    "id": "7270",
                                    "expiration_timestamp": "1698339900",
                                    "origin": {"type": "service"},
                                },
                                "pricing": {
                                    "billable": True,
                                    "pricing_model": "CBP",
                                    "category": "service",
                                },
                            },
                            {
                                "id": "wamid.xyz",
                                "status": "failed",
                                "timestamp": "1744609253",
                                "recipient_id": "5511987654321",
                                "errors": [
                                    {
                                        "code": 131047,
                                        "title": "Re-engagement message",
                                        "message": "Re-engagement message",
                                        "error_data": {
                                            "details": "Message failed to send because more than "
                                            "24 hours have passed since the customer last replied."
                                        },
                                    }
                                ],
                            },
                        ],
                    },
                }
            ],
        }
    ],
}


def test_meta_status_payload() -> None:
    sent, failed = events.parse_cloud(json.dumps(META_STATUS).encode())
    assert isinstance(sent, events.StatusEvent) and sent.correlation == "disparo:01JF:a1"
    assert isinstance(failed, events.StatusEvent) and failed.error_code == 131047
    assert failed.error_message and "24 hours" in failed.error_message


def test_unknown_parts_are_skipped() -> None:
    raw = json.dumps({"entry": [{"changes": [{"value": {"statuses": [{"id": 3}]}}]}]}).encode()
    assert events.parse_cloud(raw) == []


def test_evolution_update_and_upsert() -> None:
    update = {
        "event": "messages.update",
        "instance": "i",
        "data": {
            "keyId": "3EB0",
            "remoteJid": "5511987654321@s.whatsapp.net",
            "status": "DELIVERY_ACK",
        },
    }
    (status,) = events.parse_evolution(json.dumps(update).encode())
    assert isinstance(status, events.StatusEvent) and status.status == "delivered"
    upsert = {
        "event": "messages.upsert",
        "data": {
            "key": {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": False, "id": "AB"},
            "message": {"conversation": "SAIR"},
            "messageTimestamp": 1717689097,
        },
    }
    (inbound,) = events.parse_evolution(json.dumps(upsert).encode())
    assert isinstance(inbound, events.InboundEvent) and inbound.wa_id == "5511987654321"


def test_codes_map_to_actions() -> None:
    assert classify(132015) == ErrorClass.PAYLOAD
    assert classify(190) == ErrorClass.ACCOUNT
    assert classify(131047) == ErrorClass.WINDOW_CLOSED
    assert classify(999999) == ErrorClass.TRANSIENT


def _template(fmt: str = "named") -> WhatsAppTemplate:
    return WhatsAppTemplate(
        name="lembrete",
        language="pt_BR",
        category="UTILITY",
        param_format=fmt,
        params=[{"name": "nome", "required": True}, {"name": "valor", "required": True}],
        body="Olá {{nome}}, valor {{valor}}." if fmt == "named" else "Olá {{1}}, valor {{2}}.",
    )


def test_template_variables_are_checked_before_sending() -> None:
    message = templates.build(_template(), {"nome": "Maria", "valor": "R$ 1"}, field="v")
    assert message.params == [("nome", "Maria"), ("valor", "R$ 1")] and message.named
    assert templates.render(_template(), message) == "Olá Maria, valor R$ 1."
    positional = templates.build(_template("positional"), {"nome": "A", "valor": "B"}, field="v")
    assert templates.render(_template("positional"), positional) == "Olá A, valor B."
    with pytest.raises(InvalidInput) as missing:
        templates.build(_template(), {"nome": "Maria"}, field="v")
    assert missing.value.field == "v.valor"
    with pytest.raises(InvalidInput) as extra:
        templates.build(_template(), {"nome": "a", "valor": "b", "email": "x"}, field="v")
    assert extra.value.field == "v.email"
    with pytest.raises(InvalidInput):
        templates.build(_template(), {"nome": "a\nb", "valor": "b"}, field="v")
