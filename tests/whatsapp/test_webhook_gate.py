"""The webhook gate: signatures checked against a number's secret kept for `KEEP_SECONDS`; a
changed secret counts at once, a removed number is forgotten once its secret expires."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from carteiro.errors import Forbidden, NotFound, Unauthorized
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal
from carteiro.whatsapp import editing, signature
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp.gate import KEEP_SECONDS, Gate
from carteiro.whatsapp.models import WhatsAppNumber
from carteiro.whatsapp.schemas import NumberCreate, NumberUpdate

RAW = b'{"object": "whatsapp_business_account", "entry": []}'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _number(runtime: Runtime, principal: Principal, provider: str = "cloud") -> int:
    runtime.settings.whatsapp_evolution_enabled = True
    with runtime.db.session() as session:
        number = whatsapp.create_number(
            session,
            tenant_id=principal.tenant_id,
            data=NumberCreate(
                name=f"n-{provider}",
                provider=provider,  # type: ignore[arg-type]
                phone_number_id=f"id-{provider}",
                token="tok",
                app_secret="first-secret" if provider == "cloud" else None,
                verify_token="hook-token",
                base_url="http://evo" if provider == "evolution" else None,
            ),
            vault=runtime.vault,
            evolution_enabled=True,
        )
        return number.id


def _signed(secret: str) -> dict[str, str]:
    return {signature.HEADER: signature.sign(secret, RAW)}


async def test_a_kept_secret_answers_without_the_database_until_it_expires(
    runtime: Runtime, principal: Principal
) -> None:
    number_id = _number(runtime, principal)
    clock = Clock()
    gate = Gate(runtime.db, runtime.vault, clock=clock)
    signer = await gate.verify(
        provider="cloud", number_id=number_id, raw=RAW, headers=_signed("first-secret")
    )
    assert (signer.tenant_id, signer.number_id) == (principal.tenant_id, number_id)
    with pytest.raises(Unauthorized):
        await gate.verify(provider="cloud", number_id=number_id, raw=RAW, headers={})
    with runtime.db.session() as session:
        session.execute(delete(WhatsAppNumber).where(WhatsAppNumber.id == number_id))
    # Still within its time: the kept secret answers (the row is not read again).
    clock.now += KEEP_SECONDS - 1
    kept = await gate.verify(
        provider="cloud", number_id=number_id, raw=RAW, headers=_signed("first-secret")
    )
    assert kept == signer
    clock.now += 2
    with pytest.raises(NotFound):
        await gate.verify(
            provider="cloud", number_id=number_id, raw=RAW, headers=_signed("first-secret")
        )


async def test_a_changed_secret_counts_at_once_and_the_old_one_only_while_kept(
    runtime: Runtime, principal: Principal
) -> None:
    number_id = _number(runtime, principal)
    clock = Clock()
    gate = Gate(runtime.db, runtime.vault, clock=clock)
    await gate.verify(
        provider="cloud", number_id=number_id, raw=RAW, headers=_signed("first-secret")
    )
    with runtime.db.session() as session:
        editing.update_number(
            session,
            tenant_id=principal.tenant_id,
            ref=number_id,
            data=NumberUpdate(app_secret="second-secret"),
            vault=runtime.vault,
        )
    # The old secret is what this process keeps, for at most KEEP_SECONDS.
    await gate.verify(
        provider="cloud", number_id=number_id, raw=RAW, headers=_signed("first-secret")
    )
    # A body signed with the new one fails the kept secret, so the stored one is read.
    await gate.verify(
        provider="cloud", number_id=number_id, raw=RAW, headers=_signed("second-secret")
    )
    with pytest.raises(Forbidden):
        await gate.verify(
            provider="cloud", number_id=number_id, raw=RAW, headers=_signed("first-secret")
        )
    with pytest.raises(Forbidden):
        await gate.verify(
            provider="cloud", number_id=number_id, raw=RAW + b" ", headers=_signed("second-secret")
        )


async def test_the_gateway_token_is_kept_the_same_way(
    runtime: Runtime, principal: Principal
) -> None:
    number_id = _number(runtime, principal, provider="evolution")
    gate = Gate(runtime.db, runtime.vault, clock=Clock())
    token = {"X-Webhook-Token": "hook-token"}
    signer = await gate.verify(provider="evolution", number_id=number_id, raw=RAW, headers=token)
    assert signer.number_id == number_id
    with pytest.raises(Forbidden):
        await gate.verify(
            provider="evolution", number_id=number_id, raw=RAW, headers={"X-Webhook-Token": "no"}
        )
    with pytest.raises(NotFound):
        await gate.verify(provider="cloud", number_id=number_id, raw=RAW, headers=token)
