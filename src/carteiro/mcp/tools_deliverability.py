"""Deliverability tools: suppress an address or domain, list and remove entries, check DNS."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from carteiro.accounts import dns as account_dns
from carteiro.accounts.dns_schemas import AccountDnsReport
from carteiro.config import Settings
from carteiro.leads import suppression
from carteiro.leads.schemas import Reason, SuppressionCreate, SuppressionPage, SuppressionPublic
from carteiro.mail.resolver import DnsConfig, DnsResolver
from carteiro.mcp.toolkit import ToolRunner
from carteiro.tenancy.scopes import DELIVERABILITY_READ, DELIVERABILITY_WRITE
from carteiro.tenancy.service import Principal

MAX_LIST = 100


class SuppressResult(SuppressionPublic):
    """The entry, and whether this call added it."""

    created: bool = Field(description="false when it was already suppressed (nothing changed)")


class RemovedSuppression(SuppressionPublic):
    """The entry that was removed; mail to it is allowed again."""


def register(server: MCPServer, runner: ToolRunner, settings: Settings) -> None:
    """Adds the deliverability tools; each checks its scope against the caller's key."""

    @server.tool(
        name="suppress_address",
        title="Suppress an address or domain",
        description="Add an e-mail address, or a whole domain, to this tenant's suppression "
        "list: Carteiro will not send to it again (messages to it are refused or marked "
        "suppressed). Give exactly one of `email` or `domain`. Repeating the call changes "
        "nothing and returns the existing entry.",
        annotations=ToolAnnotations(
            title="Suppress an address or domain",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    async def suppress_address(
        ctx: Context,
        email: Annotated[str | None, Field(description="one address to stop mailing")] = None,
        domain: Annotated[
            str | None, Field(description="a domain: every address of it is suppressed")
        ] = None,
        reason: Annotated[
            Reason, Field(description="why: manual, unsubscribe, complaint or hard_bounce")
        ] = "manual",
    ) -> SuppressResult:
        def work(session: Session, principal: Principal) -> SuppressResult:
            data = SuppressionCreate(email=email, domain=domain, reason=reason)
            row, created = suppression.suppress(
                session,
                tenant_id=principal.tenant_id,
                email=data.email,
                domain=data.domain,
                reason=data.reason,
                source="mcp",
            )
            return SuppressResult(**suppression.public(row).model_dump(), created=created)

        return await runner.run(ctx, DELIVERABILITY_WRITE, work)

    @server.tool(
        name="list_suppressions",
        title="List suppressed addresses",
        description="This tenant's suppression list, newest first: addresses and domains that "
        "receive no mail, with the reason (hard_bounce, complaint, unsubscribe, manual). "
        "Returns a page ({items, total, limit, offset}).",
        annotations=ToolAnnotations(
            title="List suppressed addresses",
            read_only_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    async def list_suppressions(
        ctx: Context,
        reason: Annotated[Reason | None, Field(description="only entries with this reason")] = None,
        search: Annotated[
            str | None, Field(max_length=320, description="part of an address or domain")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST, description="page size")] = 20,
        offset: Annotated[int, Field(ge=0, description="entries to skip, for paging")] = 0,
    ) -> SuppressionPage:
        def work(session: Session, principal: Principal) -> SuppressionPage:
            return suppression.page(
                session,
                tenant_id=principal.tenant_id,
                reason=reason,
                search=search,
                limit=limit,
                offset=offset,
            )

        return await runner.run(ctx, DELIVERABILITY_READ, work)

    @server.tool(
        name="remove_suppression",
        title="Remove a suppression",
        description="Remove one entry (by the id list_suppressions shows) so the address or "
        "domain can receive mail again. Only do this when the person asked for it: "
        "re-mailing someone who unsubscribed or complained breaks the law (LGPD) and hurts "
        "the sending accounts.",
        annotations=ToolAnnotations(
            title="Remove a suppression",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    async def remove_suppression(
        ctx: Context, id: Annotated[int, Field(ge=1, description="the entry's id")]
    ) -> RemovedSuppression:
        def work(session: Session, principal: Principal) -> RemovedSuppression:
            row = suppression.delete(session, tenant_id=principal.tenant_id, suppression_id=id)
            return RemovedSuppression(**suppression.public(row).model_dump())

        return await runner.run(ctx, DELIVERABILITY_WRITE, work)

    @server.tool(
        name="check_account_dns",
        title="Check an account's DNS",
        description="Check the sending domain of an account (name or id, see list_accounts): "
        "SPF allows its SMTP host, the DKIM record matches Carteiro's key, DMARC exists, MX "
        "present. Returns each check (ok, warning, error), the overall status and the exact "
        "records to publish.",
        annotations=ToolAnnotations(
            title="Check an account's DNS",
            read_only_hint=True,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
    async def check_account_dns(
        ctx: Context,
        account: Annotated[str, Field(min_length=1, description="account name or id")],
    ) -> AccountDnsReport:
        def read(session: Session, principal: Principal) -> account_dns.DnsTarget:
            return account_dns.target(session, tenant_id=principal.tenant_id, ref=account)

        t = await runner.run(ctx, DELIVERABILITY_READ, read)
        resolver = DnsResolver.from_config(DnsConfig.from_settings(settings))
        report = await anyio.to_thread.run_sync(account_dns.check_target, t, resolver)

        def save(session: Session, principal: Principal) -> None:
            account_dns.store(session, tenant_id=principal.tenant_id, report=report)

        await runner.run(ctx, DELIVERABILITY_READ, save)
        return report
