"""One recipient's queue message: personalised content, unsubscribe link and headers."""

from __future__ import annotations

from carteiro.campaigns import render, variables
from carteiro.campaigns.models import Campaign, CampaignRecipient, CampaignVariant
from carteiro.config import Settings
from carteiro.leads import unsubscribe
from carteiro.leads.models import Lead
from carteiro.outbound.schemas import EmailCreate
from carteiro.tenancy.service import Principal
from carteiro.tracking.links import Scan


def sender(campaign: Campaign) -> Principal:
    """Who enqueues a campaign's mail: the campaign itself, approved already, no key limits
    (the pool's budgets pace it)."""
    return Principal(
        tenant_id=campaign.tenant_id,
        key_id=None,
        key_name=f"campaign {campaign.id}",
        scopes=("emails:send",),
    )


def message_for(
    campaign: Campaign,
    variant: CampaignVariant,
    row: CampaignRecipient,
    lead: Lead | None,
    *,
    settings: Settings,
    test: bool = False,
) -> EmailCreate:
    return message_and_links(campaign, variant, row, lead, settings=settings, test=test)[0]


def message_and_links(
    campaign: Campaign,
    variant: CampaignVariant,
    row: CampaignRecipient,
    lead: Lead | None,
    *,
    settings: Settings,
    test: bool = False,
) -> tuple[EmailCreate, Scan | None]:
    """`message_for`, and where the links of its HTML are when the variant's plan knows
    (`enqueue.create_batch(links=…)` then skips parsing them out of the message)."""
    token = unsubscribe.issue(
        settings, tenant_id=campaign.tenant_id, address=row.address, campaign_id=campaign.id
    )
    url = unsubscribe.unsubscribe_url(settings, token)
    values = variables.for_lead(
        lead,
        address=row.address,
        campaign_name=campaign.name,
        campaign_vars=campaign.variables or {},
        unsubscribe_url=url,
    )
    out = render.render(
        subject=variant.subject,
        html=variant.compiled_html or "",
        text=variant.compiled_text or "",
        variables=values,
        recipient=render.Recipient(
            campaign_id=campaign.id,
            recipient_id=row.id,
            address=row.address,
            variant_id=variant.id,
        ),
    )
    email = EmailCreate(
        to_email=row.address,
        subject=("[TEST] " + out.subject)[:500] if test else out.subject,
        body=out.text,
        html_body=out.html,
        account=campaign.account_id,
        from_email=campaign.from_route,
        # The variant's sender name (A/B tests it), else the account's.
        from_name=variant.from_name or None,
        reply_to=campaign.reply_to,
        # Test sends stay out of the stats: no tracker for them.
        track=campaign.track and not test,
        headers={
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    return email, out.html_links
