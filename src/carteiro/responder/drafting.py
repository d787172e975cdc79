"""One job's steps, each its own short transaction: read the context, spend tokens, reply."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from carteiro.config import Settings
from carteiro.db.engine import Database
from carteiro.db.results import dml
from carteiro.db.types import utcnow
from carteiro.inbound import replies, rules
from carteiro.inbound.models import InboxAutoReply, InboxMessage, InboxRule
from carteiro.inbound.schemas import ReplyCreate
from carteiro.inbound.storage import BlobStore
from carteiro.responder import budget, jobs, prompt
from carteiro.responder.classify import Classification
from carteiro.responder.jobs import Claimed
from carteiro.responder.model import Completion, ModelError
from carteiro.tenancy.service import Principal

MAX_REPLY_CHARS = 20000


@dataclass(frozen=True)
class Prepared:
    principal: Principal
    prompt: prompt.Prompt
    classify: bool = False


@dataclass(frozen=True)
class Unavailable:
    reason: str


class LeaseLost(Exception):
    """Another worker holds the job now (this one was too slow): its reply is not kept."""


def prepare(db: Database, job: Claimed) -> Prepared | Unavailable:
    """Who answers (the rule's key, as it is now) and the prompt to draft from."""
    with db.session() as session:
        rule = session.get(InboxRule, job.rule_id) if job.rule_id is not None else None
        if rule is None or rule.tenant_id != job.tenant_id:
            return Unavailable("the rule that handed this message over was deleted")
        if not rule.enabled:
            return Unavailable(f"the rule '{rule.name}' is disabled")
        principal = rules.sender(session, rule=rule)
        if isinstance(principal, str):
            return Unavailable(principal)
        message = session.get_one(InboxMessage, job.message_id)
        built = prompt.build(
            session,
            message=message,
            tenant_prompt=(rule.template or {}).get("prompt"),
            tenant_id=job.tenant_id,
        )
        return Prepared(
            principal=principal, prompt=built, classify=bool((rule.template or {}).get("classify"))
        )


def take_budget(
    db: Database, job: Claimed, provider: str, tokens: int, settings: Settings
) -> float:
    with db.session() as session:
        return budget.take(
            session,
            tenant_id=job.tenant_id,
            provider=provider,
            tokens=tokens,
            per_minute=settings.responder_tokens_per_minute,
            now=utcnow(),
        )


def refund(db: Database, job: Claimed, provider: str, tokens: int) -> None:
    with db.session() as session:
        budget.settle(session, tenant_id=job.tenant_id, provider=provider, extra=-tokens)


def release(db: Database, job: Claimed, owner: str, wait: float) -> None:
    with db.session() as session:
        jobs.release(session, job=job, owner=owner, wait=wait)


def clean(text: str) -> str:
    """The reply body, or ModelError(bad_output) when there is nothing usable."""
    body = text.strip()
    if body.lower().startswith("subject:"):
        # Some models start with a subject line although asked not to; the reply has one.
        body = body.split("\n", 1)[1].strip() if "\n" in body else ""
    if not body:
        raise ModelError("bad_output", "the model returned an empty reply")
    if len(body) > MAX_REPLY_CHARS:
        raise ModelError("bad_output", f"the reply is longer than {MAX_REPLY_CHARS} characters")
    return body


def _link(session: Session, job: Claimed, email_id: int) -> None:
    dml(
        session,
        update(InboxAutoReply)
        .where(InboxAutoReply.rule_id == job.rule_id, InboxAutoReply.message_id == job.message_id)
        .values(email_id=email_id),
        execution_options={"synchronize_session": False},
    )


def finish(
    db: Database,
    job: Claimed,
    owner: str,
    prepared: Prepared,
    completion: Completion,
    provider: str,
    estimate: int,
    settings: Settings,
    store: BlobStore,
    classification: Classification | None = None,
    other_tokens: int = 0,
) -> int:
    """Queues the reply as the rule's key (held for review unless the rule sends) and marks
    the job completed, in one transaction fenced by the lease. Returns the e-mail id.

    `other_tokens`: what the classification call cost, counted with the draft's.

    Raises ModelError for unusable output, and the send's CarteiroError (allow-list, limit)."""
    body = clean(completion.text)
    tokens = completion.tokens + other_tokens
    principal = prepared.principal
    if job.mode != "send":
        # Review: the reply waits in the held view for a person, whatever the key's mode.
        principal = dataclasses.replace(principal, review_mode=True)
    with db.session() as session:
        budget.settle(session, tenant_id=job.tenant_id, provider=provider, extra=tokens - estimate)
        result = replies.reply(
            session,
            principal=principal,
            message_id=job.message_id,
            data=ReplyCreate(body=body),
            settings=settings,
            store=store,
            auto=True,
        )
        _link(session, job, result.email_id)
        done = jobs.complete(
            session,
            job=job,
            owner=owner,
            email_id=result.email_id,
            tokens=tokens,
            provider=provider,
            draft=body,
            classification=classification,
        )
        if not done:
            raise LeaseLost(f"responder job {job.id} was taken over; its reply is dropped")
        return result.email_id
