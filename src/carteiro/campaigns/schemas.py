"""Request and response shapes of campaigns, segments and layouts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from carteiro.campaigns.segments import Definition
from carteiro.db.types import NameOrId, RowId, StoredDatetime

Format = Literal["html", "markdown", "text", "mjml"]
HHMM = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    definition: Definition


class SegmentUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    definition: Definition | None = None


class SegmentPublic(BaseModel):
    id: int
    name: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class SegmentPreviewIn(Strict):
    definition: Definition
    sample: int = Field(default=10, ge=0, le=100)


class LeadSample(BaseModel):
    lead_id: int
    nome: str | None
    emails: list[str]


class SegmentPreview(BaseModel):
    leads: int
    addresses: int
    sample: list[LeadSample]


class TemplateCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    format: Literal["html", "mjml"] = "html"
    body: str = Field(min_length=1, max_length=500_000)


class TemplateUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    format: Literal["html", "mjml"] | None = None
    body: str | None = Field(default=None, min_length=1, max_length=500_000)


class TemplatePublic(BaseModel):
    id: int
    name: str
    format: str
    body: str
    created_at: datetime
    updated_at: datetime


class VariantIn(Strict):
    label: str | None = Field(default=None, min_length=1, max_length=16)
    weight: int = Field(default=1, ge=1, le=100)
    subject: str = Field(min_length=1, max_length=500)
    preheader: str | None = Field(default=None, max_length=500)
    format: Format = "html"
    content: str = Field(min_length=1, max_length=1_000_000)
    text: str | None = Field(default=None, max_length=1_000_000)
    from_name: str | None = Field(default=None, max_length=200, pattern=r"^[^\r\n]*$")


class Schedule(Strict):
    """now; at `send_at`; or local: each recipient's local time inside the window and days."""

    mode: Literal["now", "at", "local"] = "now"
    send_at: StoredDatetime | None = None
    window_start: str | None = HHMM
    window_end: str | None = HHMM
    weekdays: list[int] | None = Field(default=None, description="0 = Monday … 6 = Sunday")
    default_tz: str = "America/Sao_Paulo"


class AbSettings(Strict):
    enabled: bool = False
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    metric: Literal["clicks", "human_opens", "replies"] = "clicks"
    wait_seconds: int = Field(default=4 * 3600, ge=0, le=30 * 86400)
    min_per_variant: int = Field(default=100, ge=1, le=1_000_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    fallback: Literal["control", "best", "manual"] = "control"


class Guards(Strict):
    max_hard_bounce_rate: float = Field(default=0.05, gt=0, le=1)
    max_complaint_rate: float = Field(default=0.003, gt=0, le=1)
    max_failure_rate: float = Field(default=0.2, gt=0, le=1)


class CampaignCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    segment_id: RowId | None = None
    audience: Definition | None = Field(
        default=None, description="an inline segment definition instead of segment_id"
    )
    variants: list[VariantIn] = Field(min_length=1, max_length=5)
    template_id: RowId | None = None
    from_email: str | None = Field(default=None, max_length=320)
    account: NameOrId | None = None
    reply_to: str | None = Field(default=None, max_length=320)
    track: bool = Field(
        default=True, description="links through the tracker and an open pixel (opens, clicks)"
    )
    variables: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    schedule: Schedule = Field(default_factory=Schedule)
    ab: AbSettings = Field(default_factory=AbSettings)
    guards: Guards = Field(default_factory=Guards)
    pool_share: float = Field(default=0.8, gt=0, le=1)


class CampaignUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    segment_id: RowId | None = None
    audience: Definition | None = None
    variants: list[VariantIn] | None = Field(default=None, min_length=1, max_length=5)
    template_id: RowId | None = Field(
        default=None, description="a layout; null drops the layout, leaving it out keeps it"
    )
    from_email: str | None = Field(default=None, max_length=320)
    reply_to: str | None = Field(default=None, max_length=320)
    track: bool | None = None
    variables: dict[str, str | int | float | bool | None] | None = None
    schedule: Schedule | None = None
    ab: AbSettings | None = None
    guards: Guards | None = None
    pool_share: float | None = Field(default=None, gt=0, le=1)


class Counts(BaseModel):
    audience_total: int
    skipped: int
    queued: int
    sent: int
    failed: int
    bounced_hard: int
    bounced_soft: int
    complained: int
    unsubscribed: int
    opened_unique: int
    opened_human_unique: int
    clicked_unique: int
    replied: int


class VariantPublic(BaseModel):
    id: int
    label: str
    weight: int
    subject: str
    preheader: str | None
    format: str
    from_name: str | None
    counts: Counts


class CampaignPublic(BaseModel):
    id: int
    name: str
    status: str
    status_reason: str | None
    segment_id: int | None
    audience: dict[str, Any] | None
    template_id: int | None
    from_email: str | None
    account_id: int | None
    reply_to: str | None
    track: bool
    variables: dict[str, Any]
    schedule: Schedule
    ab: AbSettings
    winner_variant_id: int | None
    counts: Counts
    variants: list[VariantPublic]
    warnings: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CampaignPage(BaseModel):
    items: list[CampaignPublic]
    total: int
    limit: int
    offset: int


class LintIssue(BaseModel):
    code: str
    message: str


class LintReport(BaseModel):
    ok: bool
    errors: list[LintIssue]
    warnings: list[LintIssue]
    audience: int
    eta_hours: float | None


class ScheduleIn(Strict):
    override_dns: bool = Field(
        default=False, description="a person accepts sending without DKIM/DMARC alignment"
    )


class Preview(BaseModel):
    address: str
    variant: str
    subject: str
    html: str
    text: str


class TestSendIn(Strict):
    to: list[str] = Field(min_length=1, max_length=10)
    lead_id: RowId | None = None
    variant: str | None = None


class TestSent(BaseModel):
    ids: list[int]


class HourBucket(BaseModel):
    bucket: datetime
    variant_id: int | None
    sent: int
    failed: int
    opened: int
    clicked: int
    bounced: int


class AccountProgress(BaseModel):
    account: str
    sent: int
    pending: int


class CampaignStats(BaseModel):
    id: int
    status: str
    status_reason: str | None
    counts: Counts
    recipients: dict[str, int]
    variants: list[VariantPublic]
    hourly: list[HourBucket]
    accounts: list[AccountProgress]


class RecipientPublic(BaseModel):
    id: int
    address: str
    lead_id: int | None
    status: str
    skip_reason: str | None
    variant_id: int | None
    phase: str
    tz: str | None
    tz_source: str | None
    due_at: datetime | None
    email_id: int | None
    sent_at: datetime | None
    first_open_at: datetime | None
    first_click_at: datetime | None
    replied_at: datetime | None


class RecipientPage(BaseModel):
    items: list[RecipientPublic]
    total: int
    limit: int
    offset: int


class AbDecisionPublic(BaseModel):
    variant_id: int
    metric: str
    decided_by: str
    probability: float | None
    per_variant: list[dict[str, Any]]
    reason: str
    decided_at: datetime


class AbState(BaseModel):
    enabled: bool
    status: str
    settings: AbSettings
    variants: list[VariantPublic]
    decision: AbDecisionPublic | None


class AbDecideIn(Strict):
    variant_id: RowId
