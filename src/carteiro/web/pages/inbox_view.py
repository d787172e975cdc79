"""What the inbox pages show: filters kept in the URL, and the folders, threads and thread pane."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from carteiro.accounts import service as accounts
from carteiro.errors import InvalidInput, NotFound
from carteiro.inbound import folders, service
from carteiro.inbound.display import frame_document
from carteiro.inbound.schemas import FolderPublic, MessagePublic, ThreadDetail, ThreadPage
from carteiro.leads import service as leads
from carteiro.leads.schemas import LeadDetail
from carteiro.responder import service as responder
from carteiro.responder.schemas import Suggestion
from carteiro.tenancy import access
from carteiro.web.deps import WebPerson
from carteiro.web.i18n import zone

PAGE_SIZE = 50
# A long thread shows its newest messages; older ones are a link to the API away.
PANE_MESSAGES = 20


def visible(session: Session, person: WebPerson) -> set[int] | None:
    return access.visible_account_ids(
        session, tenant_id=person.tenant_id, user_id=person.user_id, role=person.role
    )


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) < 2**63:
        raise InvalidInput(f"{name} must be a positive whole number", field=name)
    return int(raw)


def _date(params: Mapping[str, str], name: str) -> date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)", field=name) from None


def _flag(params: Mapping[str, str], name: str) -> bool:
    return (params.get(name) or "").strip().lower() in ("1", "on", "true", "yes")


@dataclass(frozen=True)
class Filters:
    """The inbox's state in its URL: every filter, the page and the open thread."""

    folder: int | None = None
    account: int | None = None
    unread: bool = False
    flagged: bool = False
    since: date | None = None
    until: date | None = None
    q: str = ""
    lead: int | None = None
    cursor: str | None = None
    thread: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        cursor = (params.get("cursor") or "").strip() or None
        if cursor:
            service.decode_cursor(cursor)
        return cls(
            folder=_int(params, "folder"),
            account=_int(params, "account"),
            unread=_flag(params, "unread"),
            flagged=_flag(params, "flagged"),
            since=_date(params, "since"),
            until=_date(params, "until"),
            q=(params.get("q") or "").strip()[:200],
            lead=_int(params, "lead"),
            cursor=cursor,
            thread=_int(params, "thread"),
        )

    def qs(self, **changes: Any) -> str:
        """This state as a query string, with `changes` applied (None drops a parameter)."""
        values = {**asdict(replace(self, **{k: v for k, v in changes.items() if k != "page"}))}
        if "cursor" not in changes and any(k != "thread" for k in changes):
            values["cursor"] = None  # another filter: back to the first page
        out = {}
        for key, value in values.items():
            if value in (None, "", False):
                continue
            out[key] = "1" if value is True else str(value)
        return urlencode(out)

    def list_query(self) -> str:
        """The list's state without the open thread (for panes and actions)."""
        return self.qs(thread=None, cursor=self.cursor)


@dataclass
class FolderGroup:
    account_id: int
    account: str
    folders: list[FolderPublic] = field(default_factory=list)


def _bounds(f: Filters, tz_name: str) -> tuple[datetime | None, datetime | None]:
    tz = zone(tz_name)
    since = datetime.combine(f.since, time.min, tzinfo=tz) if f.since else None
    until = datetime.combine(f.until + timedelta(days=1), time.min, tzinfo=tz) if f.until else None
    return since, until


ROLE_ORDER = {"inbox": 0, "drafts": 1, "sent": 2, "archive": 3, "junk": 4, "trash": 5}


def folder_groups(
    session: Session, person: WebPerson, seen: Collection[int] | None
) -> list[FolderGroup]:
    names = {a.id: a.name for a in accounts.list_(session, tenant_id=person.tenant_id)}
    groups: dict[int, FolderGroup] = {}
    rows = folders.list_folders(session, tenant_id=person.tenant_id, account_ids=seen)
    for row in sorted(rows, key=lambda f: (ROLE_ORDER.get(f.role or "", 9), f.name.lower())):
        group = groups.setdefault(
            row.account_id, FolderGroup(row.account_id, names.get(row.account_id, "?"))
        )
        group.folders.append(row)
    return [groups[k] for k in sorted(groups, key=lambda k: names.get(k, ""))]


def visible_accounts(
    session: Session, person: WebPerson, seen: Collection[int] | None
) -> list[tuple[int, str, str]]:
    """(id, name, address) of the accounts the person may see, by name."""
    rows = accounts.list_(session, tenant_id=person.tenant_id)
    return sorted(
        ((a.id, a.name, a.email) for a in rows if seen is None or a.id in seen),
        key=lambda a: a[1].lower(),
    )


def thread_page(
    session: Session, person: WebPerson, f: Filters, seen: Collection[int] | None
) -> ThreadPage:
    since, until = _bounds(f, person.timezone)
    if f.since and f.until and f.since > f.until:
        raise InvalidInput("the start date must not be after the end date", field="since")
    # With no folder chosen the list is the inboxes; a search or a lead looks in every folder.
    everywhere = bool(f.folder or f.q or f.lead)
    return service.list_threads(
        session,
        tenant_id=person.tenant_id,
        folder=None if everywhere else "inbox",
        folder_id=f.folder,
        account=f.account,
        account_ids=seen,
        unread=True if f.unread else None,
        flagged=True if f.flagged else None,
        since=since,
        until=until,
        q=f.q or None,
        lead_id=f.lead,
        cursor=f.cursor,
        limit=PAGE_SIZE,
    )


@dataclass
class PaneMessage:
    message: MessagePublic
    blocked_images: int


@dataclass
class Pane:
    thread: ThreadDetail
    messages: list[PaneMessage]
    hidden: int
    lead: LeadDetail | None
    move_targets: list[FolderPublic]
    suggestions: dict[int, Suggestion] = field(default_factory=dict)


def pane(session: Session, person: WebPerson, thread_id: int, seen: Collection[int] | None) -> Pane:
    detail = service.get_thread(
        session, tenant_id=person.tenant_id, thread_id=thread_id, account_ids=seen
    )
    shown = detail.messages[-PANE_MESSAGES:]
    messages = []
    for summary in shown:
        message = service.get_message(
            session, tenant_id=person.tenant_id, message_id=summary.id, include_html=True
        )
        inline = {a.content_id: "" for a in message.attachments if a.content_id}
        blocked = frame_document(
            message.html, message.text, remote_images=False, inline=inline
        ).blocked_images
        messages.append(PaneMessage(message, blocked))
    lead_id = detail.lead_id or next((m.lead_id for m in reversed(shown) if m.lead_id), None)
    lead = None
    if lead_id is not None:
        found = leads.get(session, tenant_id=person.tenant_id, lead_id=lead_id)
        lead = leads.detail(session, found) if found is not None else None
    targets = folders.list_folders(
        session, tenant_id=person.tenant_id, account_ids={detail.account_id}
    )
    return Pane(
        thread=detail,
        messages=messages,
        hidden=len(detail.messages) - len(shown),
        lead=lead,
        move_targets=[t for t in targets if t.role not in ("sent", "drafts")],
        suggestions=responder.suggestions(
            session, tenant_id=person.tenant_id, message_ids=[s.id for s in shown]
        ),
    )


def unread_by_account(groups: list[FolderGroup]) -> dict[int, int]:
    found: dict[int, int] = defaultdict(int)
    for group in groups:
        for f in group.folders:
            if f.role == "inbox":
                found[group.account_id] += f.unread_count
    return found


def frame(
    session: Session,
    person: WebPerson,
    message_id: int,
    seen: Collection[int] | None,
    *,
    images: bool,
    lang: str,
) -> tuple[str, str]:
    """(document, Content-Security-Policy) for the message's sandboxed frame."""
    message = service.get_message(
        session,
        tenant_id=person.tenant_id,
        message_id=message_id,
        include_html=True,
        limit=service.MAX_BODY_PAGE,
        account_ids=seen,
    )
    inline = {
        a.content_id: f"/ui/inbox/messages/{message.id}/attachments/{a.id}"
        for a in message.attachments
        if a.content_id
    }
    doc = frame_document(message.html, message.text, remote_images=images, inline=inline, lang=lang)
    return doc.html, doc.csp


def check_visible_message(
    session: Session, person: WebPerson, message_id: int, seen: Collection[int] | None
) -> MessagePublic:
    try:
        return service.get_message(
            session, tenant_id=person.tenant_id, message_id=message_id, account_ids=seen, limit=1
        )
    except NotFound:
        raise NotFound(f"message {message_id} not found", field="message_id") from None
