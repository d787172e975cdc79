"""Campaigns: create, read, update, delete, and every action a person or an agent takes."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from carteiro.campaigns import (
    catalog,
    content,
    control,
    decision,
    ledger,
    lifecycle,
    lint,
    messages,
    segments,
    zones,
)
from carteiro.campaigns import stats as stats_
from carteiro.campaigns.models import (
    AbDecision,
    Campaign,
    CampaignRecipient,
    CampaignVariant,
)
from carteiro.campaigns.schemas import (
    AbDecisionPublic,
    AbSettings,
    AbState,
    CampaignCreate,
    CampaignPage,
    CampaignPublic,
    CampaignStats,
    CampaignUpdate,
    Guards,
    LintReport,
    Preview,
    Schedule,
    VariantIn,
)
from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.errors import Conflict, Forbidden, InvalidInput, NotFound
from carteiro.leads import consent
from carteiro.leads import service as leads
from carteiro.leads.models import Lead, LeadEmail
from carteiro.mail.addresses import parse_address
from carteiro.outbound import enqueue
from carteiro.tenancy.service import Principal

LABELS = "ABCDE"
MAX_PAGE = 200


def get_or_raise(session: Session, *, principal: Principal, campaign_id: int) -> Campaign:
    row = session.get(Campaign, campaign_id)
    if row is None or row.tenant_id != principal.tenant_id:
        raise NotFound(f"campaign {campaign_id} not found")
    return row


def public(session: Session, c: Campaign) -> CampaignPublic:
    return CampaignPublic(
        id=c.id,
        name=c.name,
        status=c.status,
        status_reason=c.status_reason,
        segment_id=c.segment_id,
        audience=c.audience,
        template_id=c.template_id,
        from_email=c.from_route,
        account_id=c.account_id,
        reply_to=c.reply_to,
        track=c.track,
        variables=dict(c.variables),
        schedule=Schedule(
            mode=c.send_mode,
            send_at=c.send_at,
            window_start=c.window_start,
            window_end=c.window_end,
            weekdays=c.weekdays,
            default_tz=c.default_tz,
        ),
        ab=AbSettings(
            enabled=c.ab_enabled,
            test_fraction=c.ab_test_fraction,
            metric=c.ab_metric,
            wait_seconds=c.ab_wait_seconds,
            min_per_variant=c.ab_min_per_variant,
            confidence=c.ab_confidence,
            fallback=c.ab_fallback,
        ),
        winner_variant_id=c.winner_variant_id,
        counts=stats_.counts(c),
        variants=[stats_.variant_public(v) for v in ledger.variants_of(session, c.id)],
        warnings=list(c.warnings or []),
        created_at=c.created_at,
        started_at=c.started_at,
        finished_at=c.finished_at,
    )


def _schedule(c: Campaign, s: Schedule) -> None:
    if s.mode == "at" and s.send_at is None:
        raise InvalidInput("mode 'at' needs send_at", field="schedule.send_at")
    if s.mode == "local":
        if not s.window_start or not s.window_end:
            raise InvalidInput(
                "mode 'local' needs window_start and window_end (HH:MM)",
                field="schedule.window_start",
            )
        if s.window_start >= s.window_end:
            raise InvalidInput("the window ends before it starts", field="schedule.window_end")
    if s.weekdays is not None and (not s.weekdays or any(not 0 <= d <= 6 for d in s.weekdays)):
        raise InvalidInput("weekdays are 0 (Monday) to 6 (Sunday)", field="schedule.weekdays")
    if not zones.valid_zone(s.default_tz):
        raise InvalidInput(f"unknown time zone '{s.default_tz}'", field="schedule.default_tz")
    c.send_mode, c.send_at = s.mode, s.send_at
    c.window_start, c.window_end = s.window_start, s.window_end
    c.weekdays = sorted(set(s.weekdays)) if s.weekdays else None
    c.default_tz = s.default_tz


def _ab(c: Campaign, ab: AbSettings, variants: int) -> None:
    if ab.enabled and variants < 2:
        raise InvalidInput("an A/B test needs at least two variants", field="ab.enabled")
    c.ab_enabled, c.ab_test_fraction, c.ab_metric = ab.enabled, ab.test_fraction, ab.metric
    c.ab_wait_seconds, c.ab_min_per_variant = ab.wait_seconds, ab.min_per_variant
    c.ab_confidence, c.ab_fallback = ab.confidence, ab.fallback


def _guards(c: Campaign, g: Guards) -> None:
    c.max_hard_bounce_rate = g.max_hard_bounce_rate
    c.max_complaint_rate = g.max_complaint_rate
    c.max_failure_rate = g.max_failure_rate


def _audience(session: Session, c: Campaign, segment_id: int | None, audience: object) -> None:
    if segment_id is not None and audience is not None:
        raise InvalidInput("give segment_id or audience, not both", field="audience")
    if segment_id is not None:
        catalog.get_segment(session, tenant_id=c.tenant_id, segment_id=segment_id)
        c.segment_id, c.audience = segment_id, None
    elif audience is not None:
        segments.where(
            session, tenant_id=c.tenant_id, definition=audience, now=utcnow(), path="audience"
        )
        c.segment_id, c.audience = None, audience.model_dump()  # type: ignore[attr-defined]


def _compile(session: Session, c: Campaign, variant: CampaignVariant, field: str) -> None:
    layout = layout_format = None
    if c.template_id is not None:
        t = catalog.get_template(session, tenant_id=c.tenant_id, template_id=c.template_id)
        layout, layout_format = t.body, t.format
    compiled = content.compile_variant(
        format=variant.format,
        content=variant.content,
        text=variant.text,
        preheader=variant.preheader,
        layout=layout,
        layout_format=layout_format,
        field=field,
    )
    variant.compiled_html, variant.compiled_text = compiled.html, compiled.text
    variant.compiled_hash = compiled.hash


def _variants(session: Session, c: Campaign, items: list[VariantIn]) -> None:
    existing = {v.label: v for v in ledger.variants_of(session, c.id)}
    labels = [item.label or LABELS[i] for i, item in enumerate(items)]
    if len(set(labels)) != len(labels):
        raise InvalidInput("variant labels repeat", field="variants")
    if existing and c.status != "draft" and set(labels) != set(existing):
        raise Conflict(
            f"campaign {c.id} is {c.status}: its variants can be edited, not added or removed",
            field="variants",
        )
    for label in set(existing) - set(labels):
        session.delete(existing.pop(label))
    for i, (label, item) in enumerate(zip(labels, items, strict=True)):
        v = existing.get(label) or CampaignVariant(campaign_id=c.id, label=label)
        v.weight, v.subject, v.preheader = item.weight, item.subject, item.preheader
        v.format, v.content, v.text, v.from_name = (
            item.format,
            item.content,
            item.text,
            item.from_name,
        )
        _compile(session, c, v, f"variants[{i}].content")
        session.add(v)
    session.flush()


def _sender(session: Session, c: Campaign, from_email: str | None, account: object) -> None:
    if account is not None:
        pool = enqueue.load_pool(session, c.tenant_id)
        c.account_id = pool.by_ref(account, "account").id  # type: ignore[arg-type]
    c.from_route = enqueue._route(from_email, "from_email")


def create(session: Session, *, principal: Principal, data: CampaignCreate) -> Campaign:
    """A draft; an agent key in review mode may create one, a person approves its sending."""
    c = Campaign(
        tenant_id=principal.tenant_id,
        name=data.name,
        status="draft",
        created_by_key_id=principal.key_id,
        template_id=data.template_id,
        variables=dict(data.variables),
        pool_share=data.pool_share,
        track=data.track,
        ab_seed=secrets.token_hex(16),
        warnings=[],
    )
    if data.template_id is not None:
        catalog.get_template(session, tenant_id=c.tenant_id, template_id=data.template_id)
    if data.reply_to:
        c.reply_to = parse_address(data.reply_to, field="reply_to")
    _audience(session, c, data.segment_id, data.audience)
    _sender(session, c, data.from_email, data.account)
    _schedule(c, data.schedule)
    _ab(c, data.ab, len(data.variants))
    _guards(c, data.guards)
    session.add(c)
    session.flush()
    _variants(session, c, data.variants)
    return c


def update(
    session: Session, *, principal: Principal, campaign_id: int, data: CampaignUpdate
) -> Campaign:
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    if c.status not in lifecycle.EDITABLE:
        raise Conflict(f"campaign {c.id} is {c.status}; pause it to edit", field="status")
    if data.name is not None:
        c.name = data.name
    # An explicit null drops the layout; a field left out keeps it.
    relayout = "template_id" in data.model_fields_set and data.template_id != c.template_id
    if data.template_id is not None:
        catalog.get_template(session, tenant_id=c.tenant_id, template_id=data.template_id)
    if relayout:
        c.template_id = data.template_id
    if data.segment_id is not None or data.audience is not None:
        if c.status not in ("draft", "awaiting_approval", "scheduled"):
            raise Conflict("the audience is fixed once the campaign has started", field="audience")
        _audience(session, c, data.segment_id, data.audience)
    if data.from_email is not None:
        c.from_route = enqueue._route(data.from_email, "from_email")
    if data.reply_to is not None:
        c.reply_to = parse_address(data.reply_to, field="reply_to") if data.reply_to else None
    if data.variables is not None:
        c.variables = dict(data.variables)
    if data.schedule is not None:
        _schedule(c, data.schedule)
    if data.guards is not None:
        _guards(c, data.guards)
    if data.pool_share is not None:
        c.pool_share = data.pool_share
    if data.track is not None:
        c.track = data.track
    if data.variants is not None:
        _variants(session, c, data.variants)
    elif relayout or data.template_id is not None:
        for i, v in enumerate(ledger.variants_of(session, c.id)):
            _compile(session, c, v, f"variants[{i}].content")
    if data.ab is not None:
        if c.status != "draft":
            raise Conflict("A/B settings change only in draft", field="ab")
        _ab(c, data.ab, len(ledger.variants_of(session, c.id)))
    if c.status in ("scheduled", "awaiting_approval"):
        # An edit after the lint passed: check again before sending.
        lifecycle.transition(session, c, "unschedule", reason="edited; lint and schedule again")
    c.updated_at = utcnow()
    session.flush()
    return c


def variants_in(session: Session, *, principal: Principal, campaign_id: int) -> list[VariantIn]:
    """The campaign's variants as they were written (what an edit form starts from)."""
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    return [
        VariantIn(
            label=v.label,
            weight=v.weight,
            subject=v.subject,
            preheader=v.preheader,
            format=v.format,
            content=v.content,
            text=v.text,
            from_name=v.from_name,
        )
        for v in ledger.variants_of(session, c.id)
    ]


def list_(
    session: Session, *, principal: Principal, status: str | None, limit: int, offset: int
) -> CampaignPage:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit is 1 to {MAX_PAGE}", field="limit")
    terms = [Campaign.tenant_id == principal.tenant_id]
    if status is not None:
        terms.append(Campaign.status == status)
    total = session.scalar(select(func.count()).where(*terms)) or 0
    rows = session.scalars(
        select(Campaign).where(*terms).order_by(Campaign.id.desc()).limit(limit).offset(offset)
    )
    return CampaignPage(
        items=[public(session, c) for c in rows], total=total, limit=limit, offset=offset
    )


def delete_(session: Session, *, principal: Principal, campaign_id: int) -> None:
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    if c.status not in ("draft", "cancelled", "finished"):
        raise Conflict(f"campaign {c.id} is {c.status}; cancel it first", field="status")
    session.execute(delete(CampaignRecipient).where(CampaignRecipient.campaign_id == c.id))
    session.delete(c)


def run_lint(
    session: Session, *, principal: Principal, campaign_id: int, settings: Settings
) -> LintReport:
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    report, _ = lint.lint(session, c, settings=settings)
    c.lint = report.model_dump(mode="json")
    return report


def schedule(
    session: Session,
    *,
    principal: Principal,
    campaign_id: int,
    settings: Settings,
    override_dns: bool = False,
    start_now: bool = False,
) -> Campaign:
    """Lints, then schedules (or, for a key in review mode, waits for a person's approval).
    Only a person's key may override DNS errors."""
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    if c.status != "draft":
        raise Conflict(f"campaign {c.id} is {c.status}; only a draft is scheduled", field="status")
    report, only_dns = lint.lint(session, c, settings=settings)
    c.lint = report.model_dump(mode="json")
    if not report.ok and not (override_dns and only_dns and not principal.review_mode):
        first = report.errors[0]
        raise Conflict(
            f"the pre-flight check failed ({len(report.errors)} error(s)); first: "
            f"{first.code}: {first.message}",
            field="lint",
        )
    if start_now:
        c.send_mode, c.send_at = ("now", None) if c.send_mode == "at" else (c.send_mode, c.send_at)
    if principal.review_mode:
        return lifecycle.transition(session, c, "submit", reason="waiting for a person's approval")
    return lifecycle.transition(session, c, "schedule", reason=None)


def approve(session: Session, *, principal: Principal, campaign_id: int) -> Campaign:
    if principal.review_mode:
        raise Forbidden("a key in review mode cannot approve campaigns")
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    lifecycle.transition(session, c, "approve", reason=None, approved_by=principal.key_name)
    return c


def pause(session: Session, *, principal: Principal, campaign_id: int) -> Campaign:
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    return control.pause(session, c, reason=f"paused by {principal.key_name}")


def resume(session: Session, *, principal: Principal, campaign_id: int) -> Campaign:
    if principal.review_mode:
        raise Forbidden("a key in review mode cannot resume campaigns")
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    return control.resume(session, c)


def cancel(session: Session, *, principal: Principal, campaign_id: int) -> Campaign:
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    return control.cancel(session, c, reason=f"cancelled by {principal.key_name}")


def _variant(session: Session, c: Campaign, label: str | None) -> CampaignVariant:
    variants = ledger.variants_of(session, c.id)
    if label is None:
        return next((v for v in variants if v.id == c.winner_variant_id), variants[0])
    for v in variants:
        if v.label == label:
            return v
    raise InvalidInput(f"no variant '{label}'", field="variant")


def _lead(session: Session, c: Campaign, lead_id: int | None) -> Lead | None:
    """The chosen lead, or the audience's first one, for a preview or a test send."""
    if lead_id is not None:
        return leads.get_or_raise(session, tenant_id=c.tenant_id, lead_id=lead_id)
    first = segments.lead_ids(
        session,
        tenant_id=c.tenant_id,
        definition=ledger.audience_definition(session, c),
        now=utcnow(),
        limit=1,
    )
    return session.get(Lead, first[0]) if first else None


def preview(
    session: Session,
    *,
    principal: Principal,
    campaign_id: int,
    settings: Settings,
    lead_id: int | None = None,
    variant: str | None = None,
) -> Preview:
    """The message as a chosen lead (or a sample one) would get it."""
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    v = _variant(session, c, variant)
    lead = _lead(session, c, lead_id)
    emails = [e.email for e in lead_emails(session, lead.lead_id)] if lead else []
    row = CampaignRecipient(id=None, address=emails[0] if emails else "preview@example.com")
    msg = messages.message_for(c, v, row, lead, settings=settings)
    return Preview(
        address=row.address,
        variant=v.label,
        subject=msg.subject,
        html=msg.html_body or "",
        text=msg.body,
    )


def lead_emails(session: Session, lead_id: int | None) -> list[LeadEmail]:
    return consent.emails_of(session, lead_id=lead_id) if lead_id else []


def test_send(
    session: Session,
    *,
    principal: Principal,
    campaign_id: int,
    settings: Settings,
    to: list[str],
    lead_id: int | None = None,
    variant: str | None = None,
) -> list[int]:
    """Sends the message to allowed addresses, subject prefixed [TEST], outside the ledger
    and the stats."""
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    addresses = [parse_address(a, field=f"to[{i}]") for i, a in enumerate(to)]
    enqueue.check_recipients(principal, [(f"to[{i}]", a) for i, a in enumerate(addresses)])
    v = _variant(session, c, variant)
    lead = _lead(session, c, lead_id)
    items = [
        messages.message_for(
            c, v, CampaignRecipient(id=None, address=a), lead, settings=settings, test=True
        )
        for a in addresses
    ]
    queued = enqueue.create_batch(
        session, principal=principal, items=items, settings=settings, source="campaign_test"
    )
    return [q.id for q in queued]


def stats(
    session: Session, *, principal: Principal, campaign_id: int, with_accounts: bool = False
) -> CampaignStats:
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    return stats_.stats(session, c, with_accounts=with_accounts)


def ab_state(session: Session, *, principal: Principal, campaign_id: int) -> AbState:
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    decision = session.scalars(select(AbDecision).where(AbDecision.campaign_id == c.id)).first()
    pub = public(session, c)
    return AbState(
        enabled=c.ab_enabled,
        status=c.status,
        settings=pub.ab,
        variants=pub.variants,
        decision=AbDecisionPublic.model_validate(decision, from_attributes=True)
        if decision
        else None,
    )


def ab_decide(
    session: Session, *, principal: Principal, campaign_id: int, variant_id: int
) -> AbState:
    """A person picks the winner (once: a decision already recorded is a 409)."""
    if principal.review_mode:
        raise Forbidden("a key in review mode cannot decide an A/B test")
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    if not c.ab_enabled:
        raise Conflict(f"campaign {c.id} has no A/B test", field="ab")
    if variant_id not in {v.id for v in ledger.variants_of(session, c.id)}:
        raise InvalidInput(
            f"variant {variant_id} is not one of this campaign's", field="variant_id"
        )
    if c.status not in ("testing", "awaiting_winner"):
        raise Conflict(f"campaign {c.id} is {c.status}; nothing to decide", field="status")
    made = decision.decide(
        session,
        c,
        now=utcnow(),
        manual_variant_id=variant_id,
        decided_by=f"manual: {principal.key_name}",
    )
    if made is None:
        raise Conflict(f"campaign {c.id} already has a decision", field="variant_id")
    return ab_state(session, principal=principal, campaign_id=campaign_id)


def send_to_new_members(session: Session, *, principal: Principal, campaign_id: int) -> Campaign:
    """Adds to the ledger the audience's members not in it yet and sends them; everyone
    already in the ledger is left alone (the ledger is unique per address)."""
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    if c.status not in ("sending", "finished"):
        raise Conflict(f"campaign {c.id} is {c.status}; it must be sending or finished")
    if c.ab_enabled and c.winner_variant_id is None:
        raise Conflict("decide the A/B test first", field="ab")
    c.cursor_lead_id = 0
    return lifecycle.transition(
        session,
        c,
        "prepare",
        allowed=("sending", "finished"),
        reason="sending to new members",
        finished_at=None,
    )


def resend_to_non_clickers(
    session: Session,
    *,
    principal: Principal,
    campaign_id: int,
    name: str | None = None,
    subject: str | None = None,
) -> Campaign:
    """A new draft with the same content for everyone it was sent to who did not click."""
    c = get_or_raise(session, principal=principal, campaign_id=campaign_id)
    v = _variant(session, c, None)
    audience = {
        "kind": "rules",
        "rule": {
            "type": "and",
            "rules": [
                {"type": "engagement", "action": "sent", "campaign_id": c.id},
                {"type": "engagement", "action": "clicked", "campaign_id": c.id, "negate": True},
            ],
        },
    }
    data = CampaignCreate.model_validate(
        {
            "name": name or f"{c.name} (non-clickers)"[:200],
            "audience": audience,
            "variants": [
                {
                    "subject": subject or v.subject,
                    "preheader": v.preheader,
                    "format": v.format,
                    "content": v.content,
                    "text": v.text,
                    "from_name": v.from_name,
                }
            ],
            "template_id": c.template_id,
            "from_email": c.from_route,
            "variables": c.variables,
        }
    )
    new = create(session, principal=principal, data=data)
    new.account_id, new.reply_to, new.track = c.account_id, c.reply_to, c.track
    return new
