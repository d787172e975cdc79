"""Campaign endpoints: campaigns and their actions, segments, layouts (templates)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import Query, Response, status
from fastapi.responses import StreamingResponse

from carteiro.api.deps import CampaignsReadKey, CampaignsWriteKey, Offset, PathId, Rt, Tx
from carteiro.api.router import Router
from carteiro.campaigns import catalog, service
from carteiro.campaigns import stats as campaign_stats
from carteiro.campaigns.schemas import (
    AbDecideIn,
    AbState,
    CampaignCreate,
    CampaignPage,
    CampaignPublic,
    CampaignStats,
    CampaignUpdate,
    LintReport,
    Preview,
    RecipientPage,
    ScheduleIn,
    SegmentCreate,
    SegmentPreview,
    SegmentPreviewIn,
    SegmentPublic,
    SegmentUpdate,
    TemplateCreate,
    TemplatePublic,
    TemplateUpdate,
    TestSendIn,
    TestSent,
)
from carteiro.db.types import INT64_MAX

router = Router(tags=["campaigns"])
Limit = Annotated[int, Query(ge=1, le=500)]
LeadRef = Annotated[int | None, Query(ge=1, le=INT64_MAX, description="render for this lead")]
RecipientStatus = Literal["pending", "queued", "sent", "failed", "skipped", "cancelled"]


@router.post(
    "/campaigns",
    response_model=CampaignPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a campaign (a draft)",
)
def create_campaign(
    data: CampaignCreate, principal: CampaignsWriteKey, session: Tx
) -> CampaignPublic:
    return service.public(session, service.create(session, principal=principal, data=data))


@router.get("/campaigns", response_model=CampaignPage, summary="Campaigns, newest first")
def list_campaigns(
    principal: CampaignsReadKey,
    session: Tx,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> CampaignPage:
    return service.list_(session, principal=principal, status=status, limit=limit, offset=offset)


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic, summary="One campaign")
def get_campaign(campaign_id: PathId, principal: CampaignsReadKey, session: Tx) -> CampaignPublic:
    c = service.get_or_raise(session, principal=principal, campaign_id=campaign_id)
    return service.public(session, c)


@router.patch(
    "/campaigns/{campaign_id}",
    response_model=CampaignPublic,
    summary="Edit a campaign (draft, scheduled or paused)",
)
def update_campaign(
    campaign_id: PathId, data: CampaignUpdate, principal: CampaignsWriteKey, session: Tx
) -> CampaignPublic:
    c = service.update(session, principal=principal, campaign_id=campaign_id, data=data)
    return service.public(session, c)


@router.delete(
    "/campaigns/{campaign_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a draft, cancelled or finished campaign",
)
def delete_campaign(campaign_id: PathId, principal: CampaignsWriteKey, session: Tx) -> Response:
    service.delete_(session, principal=principal, campaign_id=campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/campaigns/{campaign_id}/preview",
    response_model=Preview,
    summary="The message as a lead would get it",
)
def preview_campaign(
    campaign_id: PathId,
    principal: CampaignsReadKey,
    session: Tx,
    rt: Rt,
    lead_id: LeadRef = None,
    variant: str | None = None,
) -> Preview:
    return service.preview(
        session,
        principal=principal,
        campaign_id=campaign_id,
        settings=rt.settings,
        lead_id=lead_id,
        variant=variant,
    )


@router.post(
    "/campaigns/{campaign_id}/test",
    response_model=TestSent,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a [TEST] copy to allowed addresses (outside the stats)",
)
def test_campaign(
    campaign_id: PathId, data: TestSendIn, principal: CampaignsWriteKey, session: Tx, rt: Rt
) -> TestSent:
    ids = service.test_send(
        session,
        principal=principal,
        campaign_id=campaign_id,
        settings=rt.settings,
        to=data.to,
        lead_id=data.lead_id,
        variant=data.variant,
    )
    return TestSent(ids=ids)


@router.post(
    "/campaigns/{campaign_id}/lint", response_model=LintReport, summary="The pre-flight check"
)
def lint_campaign(
    campaign_id: PathId, principal: CampaignsReadKey, session: Tx, rt: Rt
) -> LintReport:
    return service.run_lint(
        session, principal=principal, campaign_id=campaign_id, settings=rt.settings
    )


def _schedule(
    campaign_id: int,
    principal: CampaignsWriteKey,
    session: Tx,
    rt: Rt,
    data: ScheduleIn | None,
    start_now: bool,
) -> CampaignPublic:
    c = service.schedule(
        session,
        principal=principal,
        campaign_id=campaign_id,
        settings=rt.settings,
        override_dns=bool(data and data.override_dns),
        start_now=start_now,
    )
    return service.public(session, c)


@router.post(
    "/campaigns/{campaign_id}/schedule",
    response_model=CampaignPublic,
    summary="Lint and schedule (review-mode keys: wait for approval)",
)
def schedule_campaign(
    campaign_id: PathId,
    principal: CampaignsWriteKey,
    session: Tx,
    rt: Rt,
    data: ScheduleIn | None = None,
) -> CampaignPublic:
    return _schedule(campaign_id, principal, session, rt, data, start_now=False)


@router.post(
    "/campaigns/{campaign_id}/start", response_model=CampaignPublic, summary="Lint and start now"
)
def start_campaign(
    campaign_id: PathId,
    principal: CampaignsWriteKey,
    session: Tx,
    rt: Rt,
    data: ScheduleIn | None = None,
) -> CampaignPublic:
    return _schedule(campaign_id, principal, session, rt, data, start_now=True)


@router.post(
    "/campaigns/{campaign_id}/approve",
    response_model=CampaignPublic,
    summary="A person approves a campaign a review-mode key scheduled",
)
def approve_campaign(
    campaign_id: PathId, principal: CampaignsWriteKey, session: Tx
) -> CampaignPublic:
    return service.public(
        session, service.approve(session, principal=principal, campaign_id=campaign_id)
    )


@router.post("/campaigns/{campaign_id}/pause", response_model=CampaignPublic, summary="Pause")
def pause_campaign(
    campaign_id: PathId, principal: CampaignsWriteKey, session: Tx
) -> CampaignPublic:
    return service.public(
        session, service.pause(session, principal=principal, campaign_id=campaign_id)
    )


@router.post("/campaigns/{campaign_id}/resume", response_model=CampaignPublic, summary="Resume")
def resume_campaign(
    campaign_id: PathId, principal: CampaignsWriteKey, session: Tx
) -> CampaignPublic:
    return service.public(
        session, service.resume(session, principal=principal, campaign_id=campaign_id)
    )


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignPublic, summary="Cancel")
def cancel_campaign(
    campaign_id: PathId, principal: CampaignsWriteKey, session: Tx
) -> CampaignPublic:
    return service.public(
        session, service.cancel(session, principal=principal, campaign_id=campaign_id)
    )


@router.post(
    "/campaigns/{campaign_id}/send-to-new-members",
    response_model=CampaignPublic,
    summary="Send to audience members added since it was prepared",
)
def new_members(campaign_id: PathId, principal: CampaignsWriteKey, session: Tx) -> CampaignPublic:
    return service.public(
        session, service.send_to_new_members(session, principal=principal, campaign_id=campaign_id)
    )


@router.post(
    "/campaigns/{campaign_id}/resend-non-clickers",
    response_model=CampaignPublic,
    status_code=status.HTTP_201_CREATED,
    summary="A new draft for those it was sent to who did not click",
)
def non_clickers(campaign_id: PathId, principal: CampaignsWriteKey, session: Tx) -> CampaignPublic:
    return service.public(
        session,
        service.resend_to_non_clickers(session, principal=principal, campaign_id=campaign_id),
    )


@router.get(
    "/campaigns/{campaign_id}/stats",
    response_model=CampaignStats,
    summary="Counters, variants, hourly buckets (per account with accounts=true)",
)
def stats_campaign(
    campaign_id: PathId, principal: CampaignsReadKey, session: Tx, accounts: bool = False
) -> CampaignStats:
    return service.stats(
        session, principal=principal, campaign_id=campaign_id, with_accounts=accounts
    )


@router.get(
    "/campaigns/{campaign_id}/recipients",
    response_model=RecipientPage,
    summary="The recipients ledger (format=csv streams all of it)",
    responses={200: {"content": {"text/csv": {}}}},
)
def recipients_campaign(
    campaign_id: PathId,
    principal: CampaignsReadKey,
    session: Tx,
    rt: Rt,
    status: RecipientStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> RecipientPage | StreamingResponse:
    c = service.get_or_raise(session, principal=principal, campaign_id=campaign_id)
    if format == "json":
        return campaign_stats.recipients(session, c, status=status, limit=limit, offset=offset)

    def lines() -> Iterator[str]:
        with rt.db.session() as own:
            yield from campaign_stats.export_csv(own, c, status=status)

    name = f"campaign-{c.id}-{status or 'all'}.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/campaigns/{campaign_id}/ab", response_model=AbState, summary="The A/B test")
def ab_campaign(campaign_id: PathId, principal: CampaignsReadKey, session: Tx) -> AbState:
    return service.ab_state(session, principal=principal, campaign_id=campaign_id)


@router.post(
    "/campaigns/{campaign_id}/ab", response_model=AbState, summary="A person picks the A/B winner"
)
def ab_decide(
    campaign_id: PathId, data: AbDecideIn, principal: CampaignsWriteKey, session: Tx
) -> AbState:
    return service.ab_decide(
        session, principal=principal, campaign_id=campaign_id, variant_id=data.variant_id
    )


@router.post(
    "/segments",
    response_model=SegmentPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Save a segment",
)
def create_segment(data: SegmentCreate, principal: CampaignsWriteKey, session: Tx) -> SegmentPublic:
    return catalog.segment_public(
        catalog.create_segment(session, tenant_id=principal.tenant_id, data=data)
    )


@router.get("/segments", response_model=list[SegmentPublic], summary="Saved segments")
def list_segments(principal: CampaignsReadKey, session: Tx) -> list[SegmentPublic]:
    rows = catalog.list_segments(session, tenant_id=principal.tenant_id)
    return [catalog.segment_public(r) for r in rows]


@router.post(
    "/segments/preview",
    response_model=SegmentPreview,
    summary="Count and sample of a definition (not saved)",
)
def preview_definition(
    data: SegmentPreviewIn, principal: CampaignsReadKey, session: Tx
) -> SegmentPreview:
    return catalog.preview(
        session, tenant_id=principal.tenant_id, definition=data.definition, sample=data.sample
    )


@router.get("/segments/{segment_id}", response_model=SegmentPublic, summary="One segment")
def get_segment(segment_id: PathId, principal: CampaignsReadKey, session: Tx) -> SegmentPublic:
    return catalog.segment_public(
        catalog.get_segment(session, tenant_id=principal.tenant_id, segment_id=segment_id)
    )


@router.get(
    "/segments/{segment_id}/preview",
    response_model=SegmentPreview,
    summary="Count and sample of a saved segment",
)
def preview_segment(
    segment_id: PathId,
    principal: CampaignsReadKey,
    session: Tx,
    sample: Annotated[int, Query(ge=0, le=100)] = 10,
) -> SegmentPreview:
    row = catalog.get_segment(session, tenant_id=principal.tenant_id, segment_id=segment_id)
    definition = SegmentCreate.model_validate(
        {"name": row.name, "definition": row.definition}
    ).definition
    return catalog.preview(
        session, tenant_id=principal.tenant_id, definition=definition, sample=sample
    )


@router.patch("/segments/{segment_id}", response_model=SegmentPublic, summary="Edit a segment")
def update_segment(
    segment_id: PathId, data: SegmentUpdate, principal: CampaignsWriteKey, session: Tx
) -> SegmentPublic:
    return catalog.segment_public(
        catalog.update_segment(
            session, tenant_id=principal.tenant_id, segment_id=segment_id, data=data
        )
    )


@router.delete(
    "/segments/{segment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a segment no open campaign uses",
)
def delete_segment(segment_id: PathId, principal: CampaignsWriteKey, session: Tx) -> Response:
    catalog.delete_segment(session, tenant_id=principal.tenant_id, segment_id=segment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/templates",
    response_model=TemplatePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Save a layout with one {{ content }} slot",
)
def create_template(
    data: TemplateCreate, principal: CampaignsWriteKey, session: Tx
) -> TemplatePublic:
    return catalog.template_public(
        catalog.create_template(session, tenant_id=principal.tenant_id, data=data)
    )


@router.get("/templates", response_model=list[TemplatePublic], summary="Layouts")
def list_templates(principal: CampaignsReadKey, session: Tx) -> list[TemplatePublic]:
    return [
        catalog.template_public(t)
        for t in catalog.list_templates(session, tenant_id=principal.tenant_id)
    ]


@router.get("/templates/{template_id}", response_model=TemplatePublic, summary="One layout")
def get_template(template_id: PathId, principal: CampaignsReadKey, session: Tx) -> TemplatePublic:
    return catalog.template_public(
        catalog.get_template(session, tenant_id=principal.tenant_id, template_id=template_id)
    )


@router.patch("/templates/{template_id}", response_model=TemplatePublic, summary="Edit a layout")
def update_template(
    template_id: PathId, data: TemplateUpdate, principal: CampaignsWriteKey, session: Tx
) -> TemplatePublic:
    return catalog.template_public(
        catalog.update_template(
            session, tenant_id=principal.tenant_id, template_id=template_id, data=data
        )
    )


@router.delete(
    "/templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a layout"
)
def delete_template(template_id: PathId, principal: CampaignsWriteKey, session: Tx) -> Response:
    catalog.delete_template(session, tenant_id=principal.tenant_id, template_id=template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
