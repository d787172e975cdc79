"""Automatic replies: match incoming mail, answer once per thread, never feed a mail loop."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carteiro.accounts import service as accounts
from carteiro.config import Settings
from carteiro.db.types import utcnow
from carteiro.errors import CarteiroError, Forbidden, InvalidInput, NotFound
from carteiro.events.bus import Bus, ReplyRequested
from carteiro.inbound import replies
from carteiro.inbound.models import InboxAutoReply, InboxFolder, InboxMessage, InboxRule
from carteiro.inbound.parse import ParsedMessage
from carteiro.inbound.schemas import ReplyCreate, RuleCreate, RulePublic
from carteiro.inbound.storage import BlobStore
from carteiro.mail.addresses import matches_pattern
from carteiro.mail.templates import render_inline
from carteiro.tenancy.models import ApiKey
from carteiro.tenancy.scopes import EMAILS_SEND
from carteiro.tenancy.service import Principal, principal_for

log = logging.getLogger("carteiro.inbox")

_AUTOMATED = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|notifications?)[@+-]", re.I
)
MATCH_KEYS = ("from", "subject", "body", "folder")
HISTORY_GRACE = timedelta(minutes=1)


@dataclass
class Draft:
    body: str
    subject: str | None = None
    html: str | None = None


Responder = Callable[..., Draft | None]
"""`responder(session, *, message, parsed, rule) -> Draft | Handoff | None` (None: do not
answer)."""


def template_responder(
    session: Session, *, message: InboxMessage, parsed: ParsedMessage, rule: InboxRule
) -> Draft | None:
    variables = {
        "sender_name": message.from_name or "",
        "sender_email": message.from_address,
        "subject": message.subject,
        "snippet": message.snippet,
    }
    template = rule.template or {}
    subject = template.get("subject")
    return Draft(
        body=render_inline(template.get("body", ""), variables, field="body"),
        subject=render_inline(subject, variables, field="subject") if subject else None,
        html=render_inline(template["html"], variables, field="html_body", html=True)
        if template.get("html")
        else None,
    )


RESPONDERS: dict[str, Responder] = {"template": template_responder}
# Rules with this responder hand their messages to the AI responder through the bus
# (`ReplyRequested`), so this domain never imports it.
AI = "ai"
NAMES = (*RESPONDERS, AI)


def loop_reason(message: InboxMessage, parsed: ParsedMessage, own: set[str]) -> str | None:
    """Why answering this message could start a mail loop or spam a list; None if safe."""
    headers = parsed.headers
    auto = headers.get("auto-submitted", "").strip().lower()
    if auto and auto != "no":
        return "Auto-Submitted"
    if headers.get("precedence", "").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "Precedence"
    if any(k in headers for k in ("list-id", "list-unsubscribe", "list-post")):
        return "mailing list"
    suppress = headers.get("x-auto-response-suppress", "").lower()
    if any(word in suppress for word in ("all", "autoreply", "oof")):
        return "X-Auto-Response-Suppress"
    if "x-autoreply" in headers or "x-autorespond" in headers:
        return "sent by an auto-responder"
    if headers.get("return-path", "").strip() == "<>":
        return "null return path"
    sender = message.from_address
    targets = [a["email"] for a in message.reply_to] or [sender]
    if not sender or any(t in own for t in [sender, *targets]):
        return "own address"
    if any(_AUTOMATED.match(t) for t in [sender, *targets]):
        return "automated sender"
    if message.category != "normal":
        return "delivery report"
    return None


def _values(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def matches(rule: InboxRule, message: InboxMessage, folder: InboxFolder) -> bool:
    match = rule.match or {}
    folders = [f.lower() for f in _values(match.get("folder"))] or ["inbox"]
    if (folder.role or "").lower() not in folders and folder.name.lower() not in folders:
        return False
    senders = _values(match.get("from"))
    if senders and not any(
        matches_pattern(message.from_address, p)
        if "*" in p or "?" in p
        else p.lower() in message.from_address
        for p in senders
    ):
        return False
    for key, text in (("subject", message.subject), ("body", message.text_body)):
        wanted = _values(match.get(key))
        if wanted and not any(w.lower() in (text or "").lower() for w in wanted):
            return False
    return True


def apply(
    session: Session,
    *,
    tenant_id: int,
    account_id: int,
    folder: InboxFolder,
    rows: list[tuple[InboxMessage, ParsedMessage]],
    settings: Settings,
    store: BlobStore,
    bus: Bus,
) -> int:
    """Answers new messages that match a rule; returns how many replies were queued."""
    stmt = select(InboxRule).where(
        InboxRule.tenant_id == tenant_id,
        InboxRule.enabled.is_(True),
        or_(InboxRule.account_id.is_(None), InboxRule.account_id == account_id),
    )
    active = list(session.scalars(stmt.order_by(InboxRule.id)))
    if not active or not rows:
        return 0
    own = replies.own_addresses(session, tenant_id=tenant_id)
    senders: dict[int, Principal | str] = {}
    sent = 0
    for message, parsed in rows:
        if message.direction != "in" or loop_reason(message, parsed, own):
            continue
        arrived = message.internal_date or message.date
        for rule in active:
            # Mail that was already there when the rule was made is history, not a request
            # (servers keep arrival times to the second, hence the grace).
            if arrived < rule.created_at - HISTORY_GRACE or not matches(rule, message, folder):
                continue
            if _answered(session, rule.id, message.thread_id):
                continue
            if rule.id not in senders:
                senders[rule.id] = sender(session, rule=rule)
            principal = senders[rule.id]
            if isinstance(principal, str):
                _failed(rule, message, principal)
                continue
            if _answer(session, rule, message, parsed, principal, settings, store, bus):
                sent += 1
                break
    return sent


def sender(session: Session, *, rule: InboxRule) -> Principal | str:
    """The principal a rule answers as (the key that made it), or why it may not answer."""
    key = session.get(ApiKey, rule.api_key_id) if rule.api_key_id is not None else None
    if key is None or key.tenant_id != rule.tenant_id:
        return "the API key that made this rule was deleted, so the rule does not send"
    if key.revoked_at is not None:
        return (
            f"the API key '{key.name}' that made this rule was revoked, so the rule does not send"
        )
    return principal_for(key)


def _failed(rule: InboxRule, message: InboxMessage, reason: str) -> None:
    log.warning("rule %s did not answer message %s: %s", rule.id, message.id, reason)
    rule.last_error = reason[:1000]
    rule.last_error_at = utcnow()


def _answered(session: Session, rule_id: int, thread_id: int) -> bool:
    stmt = select(InboxAutoReply.id).where(
        InboxAutoReply.rule_id == rule_id, InboxAutoReply.thread_id == thread_id
    )
    return session.scalar(stmt) is not None


def _answer(
    session: Session,
    rule: InboxRule,
    message: InboxMessage,
    parsed: ParsedMessage,
    principal: Principal,
    settings: Settings,
    store: BlobStore,
    bus: Bus,
) -> bool:
    if rule.responder == AI:
        return _hand_off(session, rule, message, bus)
    responder = RESPONDERS.get(rule.responder)
    if responder is None:
        _failed(rule, message, f"unknown responder '{rule.responder}'")
        return False
    try:
        with session.begin_nested():
            draft = responder(session, message=message, parsed=parsed, rule=rule)
            if draft is None:
                return False
            result = replies.reply(
                session,
                principal=principal,
                message_id=message.id,
                data=ReplyCreate(body=draft.body, html_body=draft.html, subject=draft.subject),
                settings=settings,
                store=store,
                auto=True,
            )
            session.add(
                InboxAutoReply(
                    rule_id=rule.id,
                    thread_id=message.thread_id,
                    message_id=message.id,
                    email_id=result.email_id,
                )
            )
            session.flush()
    except CarteiroError as exc:
        # A bad template, a refused recipient or the key's limit must not stop the sync.
        _failed(rule, message, exc.message)
        return False
    except IntegrityError as exc:
        _failed(rule, message, f"could not record the answer: {exc.orig}")
        return False
    return True


def _hand_off(session: Session, rule: InboxRule, message: InboxMessage, bus: Bus) -> bool:
    """The rule takes the message (once per thread, as with a draft); the AI responder's job is
    queued by the bus's subscriber in this same transaction, and the answer comes later."""
    mode = (rule.template or {}).get("mode")
    try:
        with session.begin_nested():
            session.add(
                InboxAutoReply(rule_id=rule.id, thread_id=message.thread_id, message_id=message.id)
            )
            session.flush()
            bus.publish(
                session,
                ReplyRequested(
                    tenant_id=rule.tenant_id,
                    rule_id=rule.id,
                    message_id=message.id,
                    thread_id=message.thread_id,
                    mode="send" if mode == "send" else "review",
                ),
            )
    except IntegrityError as exc:
        _failed(rule, message, f"could not record the hand-off: {exc.orig}")
        return False
    return True


def to_public(rule: InboxRule) -> RulePublic:
    template = rule.template or {}
    return RulePublic(
        id=rule.id,
        name=rule.name,
        account_id=rule.account_id,
        enabled=rule.enabled,
        match=rule.match or {},
        responder=rule.responder,
        prompt=template.get("prompt"),
        reply_mode=template.get("mode") or "review",
        classify=bool(template.get("classify")),
        subject=template.get("subject"),
        body=template.get("body", ""),
        html_body=template.get("html"),
        created_at=rule.created_at,
        api_key_id=rule.api_key_id,
        last_error=rule.last_error,
        last_error_at=rule.last_error_at,
    )


def create(session: Session, *, principal: Principal, data: RuleCreate) -> InboxRule:
    """A rule that will answer as `principal`'s key, within that key's limits."""
    # The rule sends mail on the key's behalf, so making one needs the right to send.
    principal.require(EMAILS_SEND)
    if principal.key_id is None:
        raise Forbidden("automatic-reply rules send as the API key that makes them: use a key")
    tenant_id = principal.tenant_id
    unknown = set(data.match) - set(MATCH_KEYS)
    if unknown:
        raise InvalidInput(f"match keys must be among {', '.join(MATCH_KEYS)}", field="match")
    if data.responder not in NAMES:
        raise InvalidInput(f"unknown responder '{data.responder}'", field="responder")
    if data.responder == "template" and not data.body.strip():
        raise InvalidInput("a template rule needs the body of its answer", field="body")
    account_id = None
    if data.account is not None:
        account_id = accounts.get_or_raise(session, tenant_id=tenant_id, ref=data.account).id
    variables = {"sender_name": "", "sender_email": "", "subject": "", "snippet": ""}
    render_inline(data.body, variables, field="body")
    if data.subject:
        render_inline(data.subject, variables, field="subject")
    if data.html_body:
        render_inline(data.html_body, variables, field="html_body", html=True)
    rule = InboxRule(
        tenant_id=tenant_id,
        account_id=account_id,
        api_key_id=principal.key_id,
        name=data.name,
        enabled=data.enabled,
        match=dict(data.match),
        responder=data.responder,
        template={
            "subject": data.subject,
            "body": data.body,
            "html": data.html_body,
            "prompt": data.prompt,
            "mode": data.reply_mode,
            "classify": data.classify,
        },
    )
    session.add(rule)
    session.flush()
    return rule


def list_(session: Session, *, tenant_id: int) -> list[InboxRule]:
    stmt = select(InboxRule).where(InboxRule.tenant_id == tenant_id).order_by(InboxRule.id)
    return list(session.scalars(stmt))


def delete(session: Session, *, tenant_id: int, rule_id: int) -> None:
    rule = session.get(InboxRule, rule_id)
    if rule is None or rule.tenant_id != tenant_id:
        raise NotFound(f"rule {rule_id} not found")
    session.delete(rule)
    session.flush()
