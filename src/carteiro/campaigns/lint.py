"""The pre-flight check that blocks scheduling: unsubscribe link, variables for every
recipient, DKIM and aligned DMARC, size, and the audience against the pool's budget."""

from __future__ import annotations

from sqlalchemy import case, exists, func, literal, select
from sqlalchemy.orm import Session

from carteiro.accounts import dns
from carteiro.campaigns import ledger, planner, render, segments, variables
from carteiro.campaigns.models import Campaign, CampaignVariant
from carteiro.campaigns.schemas import LintIssue, LintReport
from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError
from carteiro.leads.models import Lead, LeadEmail
from carteiro.mail.addresses import domain_of
from carteiro.outbound.models import DkimKey

# Gmail clips a message body larger than about 102 KB.
MAX_HTML_BYTES = 102 * 1024
_JINJA_GLOBALS = {
    "range",
    "dict",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
    "loop",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
}


def _issue(code: str, message: str) -> LintIssue:
    return LintIssue(code=code, message=message)


def _variables(
    session: Session, campaign: Campaign, variant: CampaignVariant, settings: Settings
) -> list[LintIssue]:
    """Unknown names are errors; names of lead fields are rendered once per pattern of empty
    fields found in the audience (a GROUP BY), so every recipient is covered in one query."""
    sources = (variant.subject, variant.compiled_html or "", variant.compiled_text or "")
    try:
        names, fields = variables.referenced(*sources)
    except Exception as exc:  # Jinja's syntax errors
        return [_issue("template", f"variant {variant.label}: {exc}")]
    known = (
        variables.BUILTINS
        | set(variables.LEAD_FIELDS)
        | {"tags"}
        | set(campaign.variables or {})
        | _JINJA_GLOBALS
    )
    issues = [
        _issue(
            "unknown_variable",
            f"variant {variant.label}: '{name}' is not a lead field, "
            "a campaign variable or a built-in",
        )
        for name in sorted(names - known)
    ]
    if issues or not fields:
        return issues
    ordered = sorted(fields)
    definition = ledger.audience_definition(session, campaign)
    clause = segments.where(
        session, tenant_id=campaign.tenant_id, definition=definition, now=utcnow()
    )
    has_email = exists().where(LeadEmail.lead_id == Lead.lead_id, segments.mailable())
    flags = [
        case((func.coalesce(getattr(Lead, f), literal("")) == "", 1), else_=0).label(f)
        for f in ordered
    ]
    groups = session.execute(
        select(*flags, func.count(), func.min(Lead.lead_id))
        .where(clause, has_email)
        .group_by(*flags)
    ).all()
    for group in groups:
        empty = [f for f, flag in zip(ordered, group[: len(ordered)], strict=True) if flag]
        if not empty:
            continue
        count, lead_id = group[len(ordered)], group[len(ordered) + 1]
        lead = session.get(Lead, lead_id)
        values = variables.for_lead(
            lead,
            address="lint@example.com",
            campaign_name=campaign.name,
            campaign_vars=campaign.variables or {},
            unsubscribe_url="https://example.com/u/x",
        )
        try:
            render.render(
                subject=sources[0],
                html=sources[1],
                text=sources[2],
                variables=values,
                recipient=render.Recipient(campaign.id, None, "lint@example.com", variant.id),
            )
        except CarteiroError:
            issues.append(
                _issue(
                    "missing_variable",
                    f"variant {variant.label}: {count} recipient(s) have no {', '.join(empty)}; "
                    "give a default, e.g. {{ " + empty[0] + " | default('…') }}",
                )
            )
    return issues


def _dns(session: Session, campaign: Campaign) -> tuple[list[LintIssue], list[LintIssue]]:
    accounts = planner.accounts_for(session, campaign)
    if not accounts and campaign.from_route:
        return [_issue("sender", f"no active account sends as '{campaign.from_route}'")], []
    if not accounts:
        return [], [
            _issue(
                "capture",
                "no active account sends this campaign: its mail stays in the capture transport",
            )
        ]
    errors: list[LintIssue] = []
    for domain in sorted({domain_of(a.email) for a in accounts}):
        key = session.scalar(
            select(DkimKey.id).where(
                DkimKey.tenant_id == campaign.tenant_id,
                DkimKey.domain == domain,
                DkimKey.active.is_(True),
            )
        )
        if key is None:
            errors.append(
                _issue(
                    "dkim",
                    f"no DKIM key for {domain}: create one (carteiro dkim) and publish its record",
                )
            )
    for account in accounts:
        report = dns.last_report(session, tenant_id=campaign.tenant_id, ref=account.id)
        dmarc = next((c for c in report.checks if c.name == "dmarc"), None) if report else None
        if dmarc is None:
            errors.append(
                _issue(
                    "dmarc",
                    f"DNS of account '{account.name}' was never checked: "
                    f"GET /accounts/{account.id}/dns",
                )
            )
        elif dmarc.status != "ok":
            errors.append(_issue("dmarc", f"account '{account.name}': {dmarc.message}"))
    return errors, []


def lint(session: Session, campaign: Campaign, *, settings: Settings) -> tuple[LintReport, bool]:
    """(the report, whether only DNS errors block it: a person may override those)."""
    variants = ledger.variants_of(session, campaign.id)
    errors: list[LintIssue] = []
    warnings: list[LintIssue] = []
    for v in variants:
        names, _ = variables.referenced(v.compiled_html or "")
        if "unsubscribe_url" not in names:
            errors.append(
                _issue(
                    "unsubscribe",
                    f"variant {v.label}: the body has no "
                    'unsubscribe link; add <a href="{{ unsubscribe_url }}">',
                )
            )
        size = len((v.compiled_html or "").encode())
        if size > MAX_HTML_BYTES:
            errors.append(
                _issue(
                    "size",
                    f"variant {v.label}: the HTML is {size // 1024} KB; "
                    "Gmail clips bodies over 102 KB",
                )
            )
        errors.extend(_variables(session, campaign, v, settings))
    dns_errors, dns_warnings = _dns(session, campaign)
    warnings.extend(dns_warnings)
    definition = ledger.audience_definition(session, campaign)
    clause = segments.where(
        session, tenant_id=campaign.tenant_id, definition=definition, now=utcnow()
    )
    audience = (
        session.scalar(
            select(func.count(func.distinct(LeadEmail.email)))
            .join(Lead, Lead.lead_id == LeadEmail.lead_id)
            .where(clause, segments.mailable())
        )
        or 0
    )
    if audience == 0:
        errors.append(_issue("audience", "the audience has no mailable address"))
    _, per_day = planner.budget(session, campaign, settings=settings, now=utcnow())
    eta = round(audience / per_day * 24, 2) if per_day else None
    if per_day is not None and per_day and audience > per_day:
        warnings.append(
            _issue(
                "budget",
                f"{audience} recipients exceed the pool's "
                f"{per_day} per day (warm-up included): about {eta} h",
            )
        )
    if per_day == 0:
        errors.append(_issue("budget", "the accounts of this campaign have no daily budget"))
    report = LintReport(
        ok=not errors and not dns_errors,
        errors=errors + dns_errors,
        warnings=warnings,
        audience=audience,
        eta_hours=eta,
    )
    return report, not errors
