"""Saving a draft: IMAP APPEND to the account's Drafts folder, flagged \\Draft, never sent."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from imapclient.exceptions import IMAPClientError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from carteiro.accounts import service as accounts
from carteiro.accounts.models import Account
from carteiro.db.types import utcnow
from carteiro.errors import Forbidden, InvalidInput
from carteiro.inbound import folders
from carteiro.inbound.replies import get_message, prefixed, references
from carteiro.inbound.worker import load_config
from carteiro.mail import imap
from carteiro.mail.addresses import parse_addresses
from carteiro.mail.imap import ImapError
from carteiro.runtime import Runtime
from carteiro.tenancy.service import Principal

_APPENDUID = re.compile(rb"APPENDUID\s+(\d+)\s+(\d+)", re.IGNORECASE)
_LINE_BREAK = re.compile(r"[\r\n]")


class DraftCreate(BaseModel):
    """A draft for a person to finish and send from their mail client."""

    model_config = ConfigDict(extra="forbid")

    to: list[str] | str | None = None
    cc: list[str] | str | None = None
    bcc: list[str] | str | None = None
    subject: str = Field("", max_length=500)
    body: str = ""
    html_body: str | None = None
    account: str | int | None = None
    reply_to_message_id: int | None = None


class DraftSaved(BaseModel):
    account: str = Field(description="the account whose Drafts folder holds it")
    folder: str = Field(description="the IMAP folder it was saved in")
    uid: int | None = Field(description="its UID in that folder, when the server says")
    message_id: str = Field(description="the draft's Message-ID header")
    subject: str
    to: list[str]
    note: str = Field(description="what happens next, in one sentence")


@dataclass(frozen=True)
class _Prepared:
    account_id: int
    account: str
    folder: str
    raw: bytes
    message_id: str
    subject: str
    to: list[str]


def _prepare(session: Session, *, principal: Principal, data: DraftCreate) -> _Prepared:
    if _LINE_BREAK.search(data.subject):
        raise InvalidInput("subject: line breaks are not allowed", field="subject")
    to = parse_addresses(data.to, field="to") if data.to else []
    cc = parse_addresses(data.cc, field="cc") if data.cc else []
    bcc = parse_addresses(data.bcc, field="bcc") if data.bcc else []
    for name, values in (("to", to), ("cc", cc), ("bcc", bcc)):
        outside = [a for a in values if not principal.recipient_allowed(a)]
        if outside:
            raise Forbidden(
                f"recipient(s) {', '.join(outside)} are outside this key's allow-list",
                field=name,
            )
    msg = EmailMessage()
    subject = data.subject
    account: Account
    if data.reply_to_message_id is not None:
        original = get_message(
            session, tenant_id=principal.tenant_id, message_id=data.reply_to_message_id
        )
        account = accounts.get_or_raise(
            session, tenant_id=principal.tenant_id, ref=original.account_id
        )
        subject = subject or prefixed(original.subject, "Re:")
        if original.message_id:
            msg["In-Reply-To"] = original.message_id
        refs = references(original)
        if refs:
            msg["References"] = " ".join(refs)
        if not to and original.from_address:
            to = [original.from_address]
    elif data.account is not None:
        account = accounts.get_or_raise(session, tenant_id=principal.tenant_id, ref=data.account)
    else:
        raise InvalidInput(
            "give the account (see list_accounts) or reply_to_message_id", field="account"
        )
    drafts = folders.by_role(session, account_id=account.id, role="drafts")
    if drafts is None:
        raise InvalidInput(
            f"account '{account.name}' has no Drafts folder (sync it, or create one on the "
            "mail server)",
            field="account",
        )
    domain = account.email.rpartition("@")[2] or None
    message_id = make_msgid(domain=domain)
    msg["From"] = formataddr((account.display_name or "", account.email))
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if bcc:
        msg["Bcc"] = ", ".join(bcc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id
    msg.set_content(data.body or "")
    if data.html_body:
        msg.add_alternative(data.html_body, subtype="html")
    return _Prepared(
        account_id=account.id,
        account=account.name,
        folder=drafts.name,
        raw=msg.as_bytes(),
        message_id=message_id,
        subject=subject,
        to=to,
    )


def save_blocking(runtime: Runtime, *, principal: Principal, data: DraftCreate) -> DraftSaved:
    """Builds the draft in a short transaction, then appends it over IMAP outside any."""
    with runtime.db.session() as session:
        work = _prepare(session, principal=principal, data=data)
    config = load_config(runtime, account_id=work.account_id, tenant_id=principal.tenant_id)
    client = imap.connect(config)
    try:
        answer = client.append(work.folder, work.raw, flags=[b"\\Draft", b"\\Seen"])
    except (IMAPClientError, OSError):
        raise ImapError(f"the IMAP server refused to save the draft in '{work.folder}'") from None
    finally:
        imap.close(client)
    found = _APPENDUID.search(answer if isinstance(answer, bytes) else str(answer).encode())
    return DraftSaved(
        account=work.account,
        folder=work.folder,
        uid=int(found.group(2)) if found else None,
        message_id=work.message_id,
        subject=work.subject,
        to=work.to,
        note=f"saved in '{work.folder}' of account '{work.account}'; it is not sent: a person "
        "opens it in their mail client to finish and send it (the next sync lists it here)",
    )


async def save(runtime: Runtime, *, principal: Principal, data: DraftCreate) -> DraftSaved:
    return await asyncio.to_thread(save_blocking, runtime, principal=principal, data=data)
