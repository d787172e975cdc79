"""The campaign builder's form: its flat fields to the service's request shape and back."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData

from carteiro.campaigns.schemas import CampaignCreate, CampaignPublic, CampaignUpdate, VariantIn
from carteiro.campaigns.segments import Definition
from carteiro.errors import InvalidInput
from carteiro.web.i18n import zone

LABELS = "ABCDE"
SLOTS = len(LABELS)  # variant A in the content section, B to E in the A/B section
FORMATS = ("html", "markdown", "text", "mjml")
CONSENTS = ("opt_in", "unknown", "opt_out")
DEFINITION: TypeAdapter[Any] = TypeAdapter(Definition)
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VARIANT_FIELDS = ("subject", "preheader", "format", "content", "text", "from_name", "weight")


@dataclass
class Slot:
    subject: str = ""
    preheader: str = ""
    format: str = "html"
    content: str = ""
    text: str = ""
    from_name: str = ""
    weight: str = "1"

    def empty(self) -> bool:
        return not (self.subject.strip() or self.content.strip())


@dataclass
class Draft:
    """What the person typed, kept as text so a refused form comes back as it was sent."""

    name: str = ""
    audience_mode: str = "simple"  # segment | simple | keep (an API-made audience, unchanged)
    segment_id: str = ""
    tag: str = ""
    status: str = ""
    consent: str = ""
    from_email: str = ""
    reply_to: str = ""
    track: bool = True
    template_id: str = ""
    variables: str = ""  # "name = value" lines
    variables_kept: bool = False  # values the API set that are not text: left as they are
    slots: list[Slot] = field(default_factory=lambda: [Slot() for _ in range(SLOTS)])
    mode: str = "now"
    send_at: str = ""
    window_start: str = ""
    window_end: str = ""
    weekdays: list[str] = field(default_factory=list)
    default_tz: str = "America/Sao_Paulo"
    ab_enabled: bool = False
    test_fraction: str = "20"
    wait_hours: str = "4"
    metric: str = "clicks"
    fallback: str = "control"
    min_per_variant: str = "100"
    preview_lead: str = ""
    preview_variant: str = "0"
    test_to: str = ""


def from_form(form: FormData) -> Draft:
    def field_of(name: str, default: str = "") -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else default

    def raw(name: str) -> str:
        # Content keeps its whitespace.
        value = form.get(name)
        return value if isinstance(value, str) else ""

    slots = [
        Slot(
            subject=field_of(f"v{i}_subject"),
            preheader=field_of(f"v{i}_preheader"),
            format=field_of(f"v{i}_format", "html") or "html",
            content=raw(f"v{i}_content"),
            text=raw(f"v{i}_text"),
            from_name=field_of(f"v{i}_from_name"),
            weight=field_of(f"v{i}_weight", "1") or "1",
        )
        for i in range(SLOTS)
    ]
    return Draft(
        name=field_of("name"),
        audience_mode=field_of("audience_mode", "simple") or "simple",
        segment_id=field_of("segment_id"),
        tag=field_of("tag"),
        status=field_of("status"),
        consent=field_of("consent"),
        from_email=field_of("from_email"),
        reply_to=field_of("reply_to"),
        track=form.get("track") in ("1", "on", "true"),
        template_id=field_of("template_id"),
        variables=raw("variables"),
        variables_kept=form.get("variables_mode") == "keep",
        slots=slots,
        mode=field_of("mode", "now") or "now",
        send_at=field_of("send_at"),
        window_start=field_of("window_start"),
        window_end=field_of("window_end"),
        weekdays=[w for w in form.getlist("weekdays") if isinstance(w, str)],
        default_tz=field_of("default_tz") or "America/Sao_Paulo",
        ab_enabled=form.get("ab_enabled") in ("1", "on", "true"),
        test_fraction=field_of("test_fraction", "20"),
        wait_hours=field_of("wait_hours", "4"),
        metric=field_of("metric", "clicks"),
        fallback=field_of("fallback", "control"),
        min_per_variant=field_of("min_per_variant", "100"),
        preview_lead=field_of("preview_lead"),
        preview_variant=field_of("preview_variant", "0"),
        test_to=field_of("test_to"),
    )


def _number(value: str, name: str, *, kind: type = int) -> Any:
    try:
        return kind(value.replace(",", "."))
    except ValueError:
        raise InvalidInput(f"{name} must be a number", field=name) from None


def _send_at(value: str, timezone: str) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("send_at must be a date and time", field="send_at") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone(timezone))).isoformat()


def parse_variables(text: str) -> dict[str, str]:
    """The campaign's variables from "name = value" lines (blank lines and # comments skipped)."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not VARIABLE_NAME.fullmatch(name):
            raise InvalidInput(
                f"line {number} must read name = value, the name in letters, digits and _",
                field="variables",
            )
        if name in found:
            raise InvalidInput(f"line {number} repeats the variable {name}", field="variables")
        found[name] = value.strip()
    return found


def show_variables(values: dict[str, Any]) -> str | None:
    """The form's text of stored variables, or None when some value is not text (a number or
    a yes/no set through the API would come back as text, so the form leaves them alone)."""
    if not all(isinstance(v, str) for v in values.values()):
        return None
    return "".join(f"{k} = {v}\n" for k, v in values.items())


def payload_audience(d: Draft) -> dict[str, Any]:
    if d.audience_mode == "keep":
        return {}
    if d.audience_mode == "segment":
        if not d.segment_id:
            raise InvalidInput("choose a saved segment", field="segment_id")
        return {"segment_id": _number(d.segment_id, "segment_id")}
    rules: list[dict[str, Any]] = []
    if d.tag:
        rules.append({"type": "tag", "tag": d.tag})
    if d.status:
        rules.append({"type": "field", "field": "status", "op": "eq", "value": d.status})
    if d.consent:
        rules.append({"type": "consent", "value": d.consent})
    if not rules:
        raise InvalidInput(
            "give at least one condition (tag, status or consent), or choose a segment",
            field="tag",
        )
    return {"audience": {"kind": "rules", "rule": {"type": "and", "rules": rules}}}


def payload(d: Draft, *, timezone: str) -> dict[str, Any]:
    """The request body (as the API takes it) the form describes."""
    variants = []
    for i, s in enumerate(d.slots):
        if i > 0 and s.empty():
            continue
        variants.append(
            {
                "label": LABELS[i],
                "subject": s.subject,
                "preheader": s.preheader or None,
                "format": s.format,
                "content": s.content,
                "text": s.text or None,
                "from_name": s.from_name or None,
                "weight": _number(s.weight, f"v{i}_weight"),
            }
        )
    body: dict[str, Any] = {
        "name": d.name,
        "variants": variants,
        "from_email": d.from_email or None,
        "reply_to": d.reply_to or None,
        "track": d.track,
        "template_id": _number(d.template_id, "template_id") if d.template_id else None,
        "schedule": {
            "mode": d.mode,
            "send_at": _send_at(d.send_at, timezone) if d.mode == "at" else None,
            "window_start": d.window_start or None,
            "window_end": d.window_end or None,
            "weekdays": [_number(w, "weekdays") for w in d.weekdays] or None,
            "default_tz": d.default_tz,
        },
        "ab": {
            "enabled": d.ab_enabled,
            "test_fraction": _number(d.test_fraction, "test_fraction", kind=float) / 100,
            "wait_seconds": round(_number(d.wait_hours, "wait_hours", kind=float) * 3600),
            "metric": d.metric,
            "fallback": d.fallback,
            "min_per_variant": _number(d.min_per_variant, "min_per_variant"),
        },
    }
    if not d.variables_kept:
        body["variables"] = parse_variables(d.variables)
    body.update(payload_audience(d))
    return body


def create_request(d: Draft, *, timezone: str) -> CampaignCreate:
    return CampaignCreate.model_validate(payload(d, timezone=timezone))


def preview_request(d: Draft, *, timezone: str) -> CampaignCreate:
    """Only the content matters to a preview: an unfinished audience, schedule or A/B
    setting does not stop it (the audience only picks the sample lead)."""
    body = payload(
        Draft(**{**d.__dict__, "audience_mode": "keep", "mode": "now"}), timezone=timezone
    )
    body["name"] = d.name or "preview"
    body["ab"] = {"enabled": False}
    body["schedule"] = {}
    with contextlib.suppress(InvalidInput):
        body.update(payload_audience(d))
    return CampaignCreate.model_validate(body)


def update_request(d: Draft, *, timezone: str) -> CampaignUpdate:
    body = payload(d, timezone=timezone)
    kept = {k: v for k, v in body.items() if v is not None}
    kept["template_id"] = body["template_id"]  # "no layout" drops the draft's layout
    kept["from_email"] = d.from_email  # "" goes back to any account of the pool
    kept["reply_to"] = d.reply_to  # "" drops it
    return CampaignUpdate.model_validate(kept)


def from_campaign(c: CampaignPublic, *, variants: list[VariantIn], timezone: str) -> Draft:
    """The form of a stored draft; an audience the simple builder cannot show is kept."""
    d = Draft(name=c.name, from_email=c.from_email or "", reply_to=c.reply_to or "")
    d.track = c.track
    d.template_id = str(c.template_id or "")
    shown = show_variables(c.variables)
    d.variables, d.variables_kept = (shown, False) if shown is not None else ("", True)
    if c.segment_id is not None:
        d.audience_mode, d.segment_id = "segment", str(c.segment_id)
    else:
        simple = _simple(c.audience)
        if simple is None:
            d.audience_mode = "keep"
        else:
            d.tag, d.status, d.consent = simple
    for i, v in enumerate(variants[:SLOTS]):
        d.slots[i] = Slot(
            subject=v.subject,
            preheader=v.preheader or "",
            format=v.format,
            content=v.content,
            text=v.text or "",
            from_name=v.from_name or "",
            weight=str(v.weight),
        )
    s = c.schedule
    d.mode, d.default_tz = s.mode, s.default_tz
    if s.send_at is not None:
        d.send_at = s.send_at.astimezone(zone(timezone)).strftime("%Y-%m-%dT%H:%M")
    d.window_start, d.window_end = s.window_start or "", s.window_end or ""
    d.weekdays = [str(w) for w in s.weekdays or []]
    d.ab_enabled = c.ab.enabled
    d.test_fraction = f"{c.ab.test_fraction * 100:g}"
    d.wait_hours = f"{c.ab.wait_seconds / 3600:g}"
    d.metric, d.fallback = c.ab.metric, c.ab.fallback
    d.min_per_variant = str(c.ab.min_per_variant)
    return d


def _simple(audience: dict[str, Any] | None) -> tuple[str, str, str] | None:
    """(tag, status, consent) when the audience is an AND of at most one of each."""
    if not audience or audience.get("kind") != "rules":
        return None
    rule = audience.get("rule") or {}
    rules = rule.get("rules", []) if rule.get("type") == "and" else [rule]
    found = {"tag": "", "status": "", "consent": ""}
    for r in rules:
        if r.get("type") == "tag" and r.get("present", True) and not found["tag"]:
            found["tag"] = str(r["tag"])
        elif (
            r.get("type") == "field"
            and r.get("field") == "status"
            and r.get("op", "eq") == "eq"
            and not found["status"]
        ):
            found["status"] = str(r.get("value") or "")
        elif r.get("type") == "consent" and not found["consent"]:
            found["consent"] = str(r["value"])
        else:
            return None
    return found["tag"], found["status"], found["consent"]


# Where the service's field names land in the form.
_TOP = {
    "schedule": None,
    "ab": None,
    "audience": "tag",
    "segment_id": "segment_id",
    "account": "from_email",
    "to": "test_to",
    "variant": "preview_variant",
    "lead_id": "preview_lead",
}
_AB = {"enabled": "ab_enabled", "wait_seconds": "wait_hours"}


def form_field(name: str | None) -> str | None:
    """The form's name for a field the service or pydantic named (variants[1].subject ->
    v1_subject, schedule.send_at -> send_at, ab.wait_seconds -> wait_hours)."""
    if not name:
        return None
    parts = [p for p in re.split(r"[.\[\]]+", name) if p]
    head = parts[0]
    if head == "variants":
        if len(parts) >= 3 and parts[1].isdigit() and parts[2] in VARIANT_FIELDS:
            return f"v{parts[1]}_{parts[2]}"
        return "v0_content" if len(parts) < 2 else f"v{parts[1]}_content"
    if head == "schedule" and len(parts) > 1:
        return parts[1]
    if head == "ab" and len(parts) > 1:
        return _AB.get(parts[1], parts[1])
    if head in _TOP:
        return _TOP[head] or head
    return head


def validation_field(exc: ValidationError) -> tuple[str, str]:
    """(form field, message) of a request the schema refused."""
    error = exc.errors()[0]
    loc = ".".join(str(p) for p in error["loc"] if not str(p).startswith(("function", "tagged")))
    where = form_field(loc) or "name"
    return where, f"{where}: {error['msg']}"
