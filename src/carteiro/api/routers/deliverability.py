"""Deliverability endpoints: suppression list, DKIM keys, an account's DNS records and checks."""

from __future__ import annotations

from fastapi import Query, Response, status

from carteiro.accounts import dns as account_dns
from carteiro.accounts.dns_schemas import AccountDnsReport
from carteiro.api.deps import DeliverabilityReadKey, DeliverabilityWriteKey, Offset, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.errors import NotFound
from carteiro.leads import suppression
from carteiro.leads.schemas import Reason, SuppressionCreate, SuppressionPage, SuppressionPublic
from carteiro.mail.resolver import DnsConfig, DnsResolver
from carteiro.outbound.dkim import keys as dkim_keys
from carteiro.outbound.dkim.schemas import DkimKeyCreate, DkimKeyPublic

router = Router(tags=["deliverability"])


@router.get(
    "/suppressions", response_model=SuppressionPage, summary="List suppressed addresses/domains"
)
def list_suppressions(
    principal: DeliverabilityReadKey,
    session: Tx,
    reason: Reason | None = Query(None),
    q: str | None = Query(None, max_length=320, description="part of an address or domain"),
    limit: int = Query(50, ge=1, le=suppression.MAX_PAGE),
    offset: Offset = 0,
) -> SuppressionPage:
    return suppression.page(
        session,
        tenant_id=principal.tenant_id,
        reason=reason,
        search=q,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/suppressions",
    response_model=SuppressionPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Suppress an address or a whole domain",
    responses={200: {"description": "Already suppressed: the existing entry is returned"}},
)
def create_suppression(
    data: SuppressionCreate, response: Response, principal: DeliverabilityWriteKey, session: Tx
) -> SuppressionPublic:
    row, created = suppression.suppress(
        session,
        tenant_id=principal.tenant_id,
        email=data.email,
        domain=data.domain,
        reason=data.reason,
        source="api",
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return suppression.public(row)


@router.delete(
    "/suppressions/{suppression_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an entry (mail to it is allowed again)",
)
def delete_suppression(
    suppression_id: PathId, principal: DeliverabilityWriteKey, session: Tx
) -> Response:
    suppression.delete(session, tenant_id=principal.tenant_id, suppression_id=suppression_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/dkim/keys", response_model=list[DkimKeyPublic], summary="DKIM keys and records")
def list_dkim_keys(
    principal: DeliverabilityReadKey,
    session: Tx,
    domain: str | None = Query(None, max_length=253),
) -> list[DkimKeyPublic]:
    keys = dkim_keys.list_(session, tenant_id=principal.tenant_id, domain=domain)
    return [dkim_keys.public(k) for k in keys]


@router.post(
    "/dkim/keys",
    response_model=DkimKeyPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Generate a DKIM key for a sending domain (publish the returned record)",
)
def create_dkim_key(
    data: DkimKeyCreate, principal: DeliverabilityWriteKey, rt: Rt, session: Tx
) -> DkimKeyPublic:
    key = dkim_keys.generate_key(
        session,
        tenant_id=principal.tenant_id,
        domain=data.domain,
        selector=data.selector,
        vault=rt.vault,
    )
    return dkim_keys.public(key)


@router.delete(
    "/dkim/keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a DKIM key (mail for its domain is no longer signed with it)",
)
def delete_dkim_key(key_id: PathId, principal: DeliverabilityWriteKey, session: Tx) -> Response:
    dkim_keys.delete(session, tenant_id=principal.tenant_id, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/accounts/{account_id}/dns",
    response_model=AccountDnsReport,
    summary="Records to publish (SPF, DKIM, DMARC) and the result of checking them",
)
def account_dns_report(
    account_id: PathId,
    principal: DeliverabilityReadKey,
    rt: Rt,
    session: Tx,
    cached: bool = Query(False, description="return the last stored check without DNS traffic"),
) -> AccountDnsReport:
    if cached:
        found = account_dns.last_report(session, tenant_id=principal.tenant_id, ref=account_id)
        if found is None:
            raise NotFound(f"account {account_id} has not been checked yet")
        return found
    # The check opens its own short transactions around the DNS queries (the request's one stays
    # unused, so it never begins): nothing is locked while the resolver waits.
    resolver = DnsResolver.from_config(DnsConfig.from_settings(rt.settings))
    return account_dns.check_account(
        rt.db, tenant_id=principal.tenant_id, ref=account_id, resolver=resolver
    )
