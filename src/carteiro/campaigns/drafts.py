"""What a campaign being written would look like, before anything is stored: its preview."""

from __future__ import annotations

from sqlalchemy.orm import Session

from carteiro.campaigns import catalog, content, messages, service
from carteiro.campaigns.models import Campaign, CampaignRecipient, CampaignVariant
from carteiro.campaigns.schemas import CampaignCreate, Preview
from carteiro.config import Settings
from carteiro.errors import InvalidInput
from carteiro.tenancy.service import Principal


def preview_unsaved(
    session: Session,
    *,
    principal: Principal,
    data: CampaignCreate,
    settings: Settings,
    lead_id: int | None = None,
    variant: int = 0,
) -> Preview:
    """The message one lead (or the audience's first) would get from the variant at index
    `variant` of `data`; the objects built here never join the session."""
    if not 0 <= variant < len(data.variants):
        raise InvalidInput(f"no variant {variant}", field="variant")
    item = data.variants[variant]
    c = Campaign(
        tenant_id=principal.tenant_id,
        name=data.name,
        template_id=data.template_id,
        variables=dict(data.variables),
        track=False,
        from_route=None,
        reply_to=None,
        account_id=None,
        segment_id=data.segment_id,
        audience=data.audience.model_dump() if data.audience is not None else None,
    )
    layout = layout_format = None
    if data.template_id is not None:
        t = catalog.get_template(session, tenant_id=c.tenant_id, template_id=data.template_id)
        layout, layout_format = t.body, t.format
    compiled = content.compile_variant(
        format=item.format,
        content=item.content,
        text=item.text,
        preheader=item.preheader,
        layout=layout,
        layout_format=layout_format,
        field=f"variants[{variant}].content",
    )
    label = item.label or service.LABELS[variant]
    v = CampaignVariant(
        label=label,
        subject=item.subject,
        compiled_html=compiled.html,
        compiled_text=compiled.text,
        from_name=item.from_name,
    )
    if data.segment_id is not None:
        catalog.get_segment(session, tenant_id=c.tenant_id, segment_id=data.segment_id)
    lead = service._lead(session, c, lead_id)
    emails = [e.email for e in service.lead_emails(session, lead.lead_id)] if lead else []
    row = CampaignRecipient(id=None, address=emails[0] if emails else "preview@example.com")
    msg = messages.message_for(c, v, row, lead, settings=settings)
    return Preview(
        address=row.address,
        variant=label,
        subject=msg.subject,
        html=msg.html_body or "",
        text=msg.body,
    )
