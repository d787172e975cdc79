"""Saved segments and layouts: create, read, update, delete, and a segment's preview."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carteiro.campaigns import content, segments
from carteiro.campaigns.models import Campaign, CampaignTemplate, Segment
from carteiro.campaigns.schemas import (
    LeadSample,
    SegmentCreate,
    SegmentPreview,
    SegmentPublic,
    SegmentUpdate,
    TemplateCreate,
    TemplatePublic,
    TemplateUpdate,
)
from carteiro.db.types import utcnow
from carteiro.errors import Conflict, NotFound
from carteiro.leads.models import Lead, LeadEmail


def _unique_name(session: Session, row: Segment | CampaignTemplate) -> None:
    model = type(row)
    clash = session.scalar(
        select(model.id).where(
            model.tenant_id == row.tenant_id, model.name == row.name, model.id != (row.id or 0)
        )
    )
    if clash is not None:
        what = "segment" if model is Segment else "template"
        raise Conflict(f"a {what} named '{row.name}' already exists", field="name")
    session.add(row)
    session.flush()


def _check(session: Session, tenant_id: int, definition: Any) -> None:
    # Compiling names any unknown field (422) before anything is stored.
    segments.where(session, tenant_id=tenant_id, definition=definition, now=utcnow())


def segment_public(row: Segment) -> SegmentPublic:
    return SegmentPublic.model_validate(row, from_attributes=True)


def create_segment(session: Session, *, tenant_id: int, data: SegmentCreate) -> Segment:
    _check(session, tenant_id, data.definition)
    row = Segment(tenant_id=tenant_id, name=data.name, definition=data.definition.model_dump())
    _unique_name(session, row)
    return row


def get_segment(session: Session, *, tenant_id: int, segment_id: int) -> Segment:
    row = session.get(Segment, segment_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"segment {segment_id} not found")
    return row


def list_segments(session: Session, *, tenant_id: int) -> list[Segment]:
    stmt = select(Segment).where(Segment.tenant_id == tenant_id).order_by(Segment.id)
    return list(session.scalars(stmt))


def update_segment(
    session: Session, *, tenant_id: int, segment_id: int, data: SegmentUpdate
) -> Segment:
    row = get_segment(session, tenant_id=tenant_id, segment_id=segment_id)
    if data.definition is not None:
        _check(session, tenant_id, data.definition)
        row.definition = data.definition.model_dump()
    if data.name is not None:
        row.name = data.name
    _unique_name(session, row)
    return row


def delete_segment(session: Session, *, tenant_id: int, segment_id: int) -> None:
    row = get_segment(session, tenant_id=tenant_id, segment_id=segment_id)
    used = session.scalar(
        select(func.count()).where(
            Campaign.segment_id == row.id,
            Campaign.status.not_in(("finished", "cancelled")),
        )
    )
    if used:
        raise Conflict(f"segment {segment_id} is used by {used} open campaign(s)")
    session.delete(row)


def preview(
    session: Session, *, tenant_id: int, definition: Any, sample: int = 10
) -> SegmentPreview:
    """How many leads and mailable addresses the definition selects, and a few of them."""
    clause = segments.where(session, tenant_id=tenant_id, definition=definition, now=utcnow())
    leads = session.scalar(select(func.count()).select_from(Lead).where(clause)) or 0
    addresses = (
        session.scalar(
            select(func.count(func.distinct(LeadEmail.email)))
            .join(Lead, Lead.lead_id == LeadEmail.lead_id)
            .where(clause, segments.mailable())
        )
        or 0
    )
    picked = session.execute(
        select(Lead.lead_id, Lead.nome).where(clause).order_by(Lead.lead_id).limit(sample)
    ).all()
    emails: dict[int, list[str]] = defaultdict(list)
    if picked:
        for lead_id, email in session.execute(
            select(LeadEmail.lead_id, LeadEmail.email).where(
                LeadEmail.lead_id.in_([p.lead_id for p in picked])
            )
        ):
            emails[lead_id].append(email)
    return SegmentPreview(
        leads=leads,
        addresses=addresses,
        sample=[
            LeadSample(lead_id=p.lead_id, nome=p.nome, emails=emails[p.lead_id]) for p in picked
        ],
    )


def template_public(row: CampaignTemplate) -> TemplatePublic:
    return TemplatePublic.model_validate(row, from_attributes=True)


def create_template(session: Session, *, tenant_id: int, data: TemplateCreate) -> CampaignTemplate:
    content.check_layout(data.body)
    row = CampaignTemplate(tenant_id=tenant_id, name=data.name, format=data.format, body=data.body)
    _unique_name(session, row)
    return row


def get_template(session: Session, *, tenant_id: int, template_id: int) -> CampaignTemplate:
    row = session.get(CampaignTemplate, template_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"template {template_id} not found")
    return row


def list_templates(session: Session, *, tenant_id: int) -> list[CampaignTemplate]:
    stmt = select(CampaignTemplate).where(CampaignTemplate.tenant_id == tenant_id)
    return list(session.scalars(stmt.order_by(CampaignTemplate.id)))


def update_template(
    session: Session, *, tenant_id: int, template_id: int, data: TemplateUpdate
) -> CampaignTemplate:
    row = get_template(session, tenant_id=tenant_id, template_id=template_id)
    if data.body is not None:
        content.check_layout(data.body)
        row.body = data.body
    if data.format is not None:
        row.format = data.format
    if data.name is not None:
        row.name = data.name
    _unique_name(session, row)
    return row


def delete_template(session: Session, *, tenant_id: int, template_id: int) -> None:
    row = get_template(session, tenant_id=tenant_id, template_id=template_id)
    session.delete(row)
