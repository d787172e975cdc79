"""WhatsApp endpoints: numbers and templates, provider webhooks, the seed's send endpoint."""

from __future__ import annotations

import asyncio

from fastapi import Query, Request, Response, status
from starlette.routing import Route

from carteiro.api.deps import AdminKey, LeadsReadKey, LeadsWriteKey, PathId, Rt, Tx, in_transaction
from carteiro.api.router import Router
from carteiro.db.types import INT64_MAX
from carteiro.dispatches import adhoc, service
from carteiro.errors import InvalidInput, TooLarge
from carteiro.runtime import Runtime
from carteiro.whatsapp import editing, signature, webhooks
from carteiro.whatsapp import service as whatsapp
from carteiro.whatsapp.gate import Gate
from carteiro.whatsapp.intake import Intake
from carteiro.whatsapp.schemas import (
    NumberCreate,
    NumberPause,
    NumberPublic,
    NumberUpdate,
    TemplateCreate,
    TemplatePublic,
    WhatsAppSend,
    WhatsAppSendResult,
)

router = Router(tags=["whatsapp"])
# How long POST /mcp/whatsapp/send waits for the provider's first answer.
SEND_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.1


@router.post(
    "/whatsapp/numbers",
    response_model=NumberPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Connect a WhatsApp number (Cloud API, or the Evolution gateway if enabled)",
)
def add_number(data: NumberCreate, principal: AdminKey, rt: Rt, session: Tx) -> NumberPublic:
    number = whatsapp.create_number(
        session,
        tenant_id=principal.tenant_id,
        data=data,
        vault=rt.vault,
        evolution_enabled=rt.settings.whatsapp_evolution_enabled,
    )
    return whatsapp.number_public(number)


@router.get("/whatsapp/numbers", response_model=list[NumberPublic], summary="WhatsApp numbers")
def list_numbers(principal: LeadsReadKey, session: Tx) -> list[NumberPublic]:
    rows = whatsapp.list_numbers(session, tenant_id=principal.tenant_id)
    return [whatsapp.number_public(n) for n in rows]


@router.post(
    "/whatsapp/numbers/{number_id}/resume",
    response_model=NumberPublic,
    summary="Close a paused number's circuit breaker",
)
def resume_number(number_id: PathId, principal: AdminKey, session: Tx) -> NumberPublic:
    return whatsapp.number_public(
        whatsapp.resume(session, tenant_id=principal.tenant_id, ref=number_id)
    )


@router.patch(
    "/whatsapp/numbers/{number_id}",
    response_model=NumberPublic,
    summary="Change a number; secrets left out keep the stored ones (write-only)",
)
def update_number(
    number_id: PathId, data: NumberUpdate, principal: AdminKey, rt: Rt, session: Tx
) -> NumberPublic:
    number = editing.update_number(
        session, tenant_id=principal.tenant_id, ref=number_id, data=data, vault=rt.vault
    )
    return whatsapp.number_public(number)


@router.post(
    "/whatsapp/numbers/{number_id}/pause",
    response_model=NumberPublic,
    summary="Open a number's circuit breaker by hand: nothing is sent until it is resumed",
)
def pause_number(
    number_id: PathId, data: NumberPause, principal: AdminKey, session: Tx
) -> NumberPublic:
    number = editing.pause_number(
        session, tenant_id=principal.tenant_id, ref=number_id, reason=data.reason, until=None
    )
    return whatsapp.number_public(number)


@router.post(
    "/whatsapp/templates",
    response_model=TemplatePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Register an approved template (name, language, category, parameters)",
)
def add_template(data: TemplateCreate, principal: LeadsWriteKey, session: Tx) -> TemplatePublic:
    t = whatsapp.create_template(session, tenant_id=principal.tenant_id, data=data)
    return whatsapp.template_public(t)


@router.get(
    "/whatsapp/templates", response_model=list[TemplatePublic], summary="Registered templates"
)
def list_templates(principal: LeadsReadKey, session: Tx) -> list[TemplatePublic]:
    rows = whatsapp.list_templates(session, tenant_id=principal.tenant_id)
    return [whatsapp.template_public(t) for t in rows]


@router.put(
    "/whatsapp/templates/{template_id}",
    response_model=TemplatePublic,
    summary="Replace a registered template (name, language, category, variables, body)",
)
def replace_template(
    template_id: PathId, data: TemplateCreate, principal: LeadsWriteKey, session: Tx
) -> TemplatePublic:
    t = editing.update_template(
        session, tenant_id=principal.tenant_id, template_id=template_id, data=data
    )
    return whatsapp.template_public(t)


@router.delete(
    "/whatsapp/templates/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a template from the registry (pending dispatches with it then fail)",
)
def delete_template(template_id: PathId, principal: LeadsWriteKey, session: Tx) -> Response:
    editing.delete_template(session, tenant_id=principal.tenant_id, template_id=template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/whatsapp/{provider}/{number_id}",
    summary="Webhook verification (hub.mode, hub.verify_token, hub.challenge)",
    include_in_schema=True,
)
def verify_webhook(
    provider: str,
    number_id: PathId,
    rt: Rt,
    session: Tx,
    mode: str | None = Query(None, alias="hub.mode"),
    token: str | None = Query(None, alias="hub.verify_token"),
    challenge: str | None = Query(None, alias="hub.challenge", max_length=512),
) -> Response:
    echoed = webhooks.challenge(
        session,
        provider=provider,
        number_id=number_id,
        mode=mode,
        token=token,
        challenge=challenge,
        vault=rt.vault,
    )
    return Response(echoed, media_type="text/plain")


def _path_id(value: str) -> int:
    number_id = int(value) if value.isdigit() and len(value) <= 19 else 0
    if not 1 <= number_id <= INT64_MAX:
        raise InvalidInput("number_id: must be a whole number from 1", field="number_id")
    return number_id


async def _receive(request: Request, provider: str, number_id: int) -> Response:
    raw = await request.body()
    if len(raw) > webhooks.MAX_BODY:
        raise TooLarge("webhook bodies are limited to 3 MB")
    rt: Runtime = request.app.state.runtime
    state = request.app.state
    gate: Gate | None = getattr(state, "whatsapp_gate", None)
    if gate is None:
        gate = state.whatsapp_gate = Gate(rt.db, rt.vault)
    intake: Intake | None = getattr(state, "whatsapp_intake", None)
    if intake is None:
        intake = state.whatsapp_intake = Intake(rt.db)
    wanted = (signature.HEADER, webhooks.EVOLUTION_TOKEN_HEADER)
    headers = {name: value for name in wanted if (value := request.headers.get(name))}
    signer = await gate.verify(provider=provider, number_id=number_id, raw=raw, headers=headers)
    # Answered once stored (committed), as Meta expects; processed later by the loop.
    await intake.store(
        tenant_id=signer.tenant_id, number_id=signer.number_id, provider=provider, raw=raw
    )
    return Response(status_code=status.HTTP_200_OK)


@router.post(
    "/webhooks/whatsapp/{provider}/{number_id}",
    summary="Provider events (signed with X-Hub-Signature-256); stored, then processed",
)
async def receive_webhook(provider: str, number_id: PathId, request: Request) -> Response:
    """Documents the endpoint; requests reach `WEBHOOK_ROUTE` first, which does the same."""
    return await _receive(request, provider, number_id)


async def _receive_plain(request: Request) -> Response:
    params = request.path_params
    return await _receive(request, params["provider"], _path_id(params["number_id"]))


# The hot path as a plain Starlette route, mounted first by the app: each webhook skips the
# API's route scan and dependency solving (no key; the signature is its authentication).
WEBHOOK_ROUTE = Route("/webhooks/whatsapp/{provider}/{number_id}", _receive_plain, methods=["POST"])


@router.post(
    "/mcp/whatsapp/send",
    response_model=WhatsAppSendResult,
    summary="Send one WhatsApp message now and wait for the provider's answer (seed endpoint)",
    description="`status: sent` means the provider ACCEPTED the message (not that it was "
    "delivered); follow delivery with GET /disparos/{disparoId}. Free text is only sent inside "
    "the 24 h window (else `failed`, code `fora_janela_24h`, without calling the provider); "
    "with `templateId` the variables are checked against the template registry first. "
    "`queued` when no answer came within 30 s.",
)
async def send_whatsapp(data: WhatsAppSend, principal: LeadsWriteKey, rt: Rt) -> WhatsAppSendResult:
    d, refusal = await in_transaction(
        rt, lambda session: adhoc.create(session, principal=principal, data=data)
    )
    if refusal is not None:
        return refusal
    if d is None:
        raise InvalidInput("nothing to send", field="message")
    disparo_id = d.disparo_id
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SEND_WAIT_SECONDS
    while True:
        current = await in_transaction(
            rt,
            lambda session: service.get_or_raise(
                session, principal=principal, disparo_id=disparo_id
            ),
        )
        result = adhoc.result_of(current)
        if result.status != "queued" or loop.time() >= deadline:
            return result
        await asyncio.sleep(POLL_SECONDS)
