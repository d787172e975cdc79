"""Deliverability endpoints: suppression list, DKIM keys, an account's DNS records and checks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response, status
from starlette.concurrency import run_in_threadpool

from carteiro.accounts import dns as account_dns
from carteiro.accounts.dns_schemas import AccountDnsReport
from carteiro.api.deps import Offset, PathId, get_runtime, require
from carteiro.errors import NotFound
from carteiro.leads import suppression
from carteiro.leads.schemas import Reason, SuppressionCreate, SuppressionPage, SuppressionPublic
from carteiro.mail.resolver import DnsConfig, DnsResolver
from carteiro.outbound.dkim import keys as dkim_keys
from carteiro.outbound.dkim.schemas import DkimKeyCreate, DkimKeyPublic
from carteiro.runtime import Runtime
from carteiro.tenancy.scopes import DELIVERABILITY_READ, DELIVERABILITY_WRITE
from carteiro.tenancy.service import Principal

router = APIRouter(tags=["deliverability"])


@router.get(
    "/suppressions", response_model=SuppressionPage, summary="List suppressed addresses/domains"
)
async def list_suppressions(
    reason: Reason | None = Query(None),
    q: str | None = Query(None, max_length=320, description="part of an address or domain"),
    limit: int = Query(50, ge=1, le=suppression.MAX_PAGE),
    offset: Offset = 0,
    principal: Principal = Depends(require(DELIVERABILITY_READ)),
    rt: Runtime = Depends(get_runtime),
) -> SuppressionPage:
    def _run() -> SuppressionPage:
        with rt.db.session() as session:
            return suppression.page(
                session,
                tenant_id=principal.tenant_id,
                reason=reason,
                search=q,
                limit=limit,
                offset=offset,
            )

    return await run_in_threadpool(_run)


@router.post(
    "/suppressions",
    response_model=SuppressionPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Suppress an address or a whole domain",
    responses={200: {"description": "Already suppressed: the existing entry is returned"}},
)
async def create_suppression(
    data: SuppressionCreate,
    response: Response,
    principal: Principal = Depends(require(DELIVERABILITY_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> SuppressionPublic:
    def _run() -> tuple[SuppressionPublic, bool]:
        with rt.db.session() as session:
            row, created = suppression.suppress(
                session,
                tenant_id=principal.tenant_id,
                email=data.email,
                domain=data.domain,
                reason=data.reason,
                source="api",
            )
            return suppression.public(row), created

    public, created = await run_in_threadpool(_run)
    if not created:
        response.status_code = status.HTTP_200_OK
    return public


@router.delete(
    "/suppressions/{suppression_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an entry (mail to it is allowed again)",
)
async def delete_suppression(
    suppression_id: PathId,
    principal: Principal = Depends(require(DELIVERABILITY_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    def _run() -> None:
        with rt.db.session() as session:
            suppression.delete(
                session, tenant_id=principal.tenant_id, suppression_id=suppression_id
            )

    await run_in_threadpool(_run)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/dkim/keys", response_model=list[DkimKeyPublic], summary="DKIM keys and records")
async def list_dkim_keys(
    domain: str | None = Query(None, max_length=253),
    principal: Principal = Depends(require(DELIVERABILITY_READ)),
    rt: Runtime = Depends(get_runtime),
) -> list[DkimKeyPublic]:
    def _run() -> list[DkimKeyPublic]:
        with rt.db.session() as session:
            keys = dkim_keys.list_(session, tenant_id=principal.tenant_id, domain=domain)
            return [dkim_keys.public(k) for k in keys]

    return await run_in_threadpool(_run)


@router.post(
    "/dkim/keys",
    response_model=DkimKeyPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Generate a DKIM key for a sending domain (publish the returned record)",
)
async def create_dkim_key(
    data: DkimKeyCreate,
    principal: Principal = Depends(require(DELIVERABILITY_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> DkimKeyPublic:
    def _run() -> DkimKeyPublic:
        with rt.db.session() as session:
            key = dkim_keys.generate_key(
                session,
                tenant_id=principal.tenant_id,
                domain=data.domain,
                selector=data.selector,
                vault=rt.vault,
            )
            return dkim_keys.public(key)

    return await run_in_threadpool(_run)


@router.delete(
    "/dkim/keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a DKIM key (mail for its domain is no longer signed with it)",
)
async def delete_dkim_key(
    key_id: PathId,
    principal: Principal = Depends(require(DELIVERABILITY_WRITE)),
    rt: Runtime = Depends(get_runtime),
) -> Response:
    def _run() -> None:
        with rt.db.session() as session:
            dkim_keys.delete(session, tenant_id=principal.tenant_id, key_id=key_id)

    await run_in_threadpool(_run)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/accounts/{account_id}/dns",
    response_model=AccountDnsReport,
    summary="Records to publish (SPF, DKIM, DMARC) and the result of checking them",
)
async def account_dns_report(
    account_id: PathId,
    cached: bool = Query(False, description="return the last stored check without DNS traffic"),
    principal: Principal = Depends(require(DELIVERABILITY_READ)),
    rt: Runtime = Depends(get_runtime),
) -> AccountDnsReport:
    if cached:

        def _stored() -> AccountDnsReport:
            with rt.db.session() as session:
                found = account_dns.last_report(
                    session, tenant_id=principal.tenant_id, ref=account_id
                )
            if found is None:
                raise NotFound(f"account {account_id} has not been checked yet")
            return found

        return await run_in_threadpool(_stored)
    resolver = DnsResolver.from_config(DnsConfig.from_settings(rt.settings))
    return await run_in_threadpool(
        account_dns.check_account,
        rt.db,
        tenant_id=principal.tenant_id,
        ref=account_id,
        resolver=resolver,
    )
