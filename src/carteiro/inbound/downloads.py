"""Original bytes of a message and its attachments, read back from storage."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import quote

from sqlalchemy.orm import Session

from carteiro.config import Settings
from carteiro.errors import NotFound
from carteiro.inbound.models import InboxAttachment, InboxRaw
from carteiro.inbound.replies import get_message as get_message_row
from carteiro.inbound.storage import BlobStore, unpack
from carteiro.outbound.models import Email

_NOT_TOKEN_SAFE = re.compile(r'[^\x20-\x7e]|["\\%]')
# Mail comes from strangers: nothing served from it may run script in our origin, even if a
# browser is talked into rendering it (HTML, SVG, XML) or a type is sniffed.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """`attachment; filename="ascii"` plus RFC 5987 `filename*=UTF-8''…` for other names.

    HTTP headers are Latin-1 at most, so the real name travels percent-encoded (RFC 6266);
    the plain `filename` is an ASCII stand-in for clients that ignore `filename*`."""
    kind = "inline" if inline else "attachment"
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = _NOT_TOKEN_SAFE.sub("_", ascii_name).strip()
    stem, dot, ext = fallback.rpartition(".")
    if not dot:
        stem, ext = fallback, ""
    if not stem.strip("._ "):
        fallback = f"attachment.{ext}" if ext.strip() else "attachment"
    value = f'{kind}; filename="{fallback}"'
    if filename and fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def attachment_headers(filename: str) -> dict[str, str]:
    """Headers for serving an attachment: a download, never rendered, never sniffed."""
    return {"Content-Disposition": content_disposition(filename), **SAFE_HEADERS}


def raw_message(session: Session, *, tenant_id: int, message_id: int, settings: Settings) -> bytes:
    """The message's original bytes (as fetched, or from the queue for our own messages)."""
    message = get_message_row(session, tenant_id=tenant_id, message_id=message_id)
    packed = session.get(InboxRaw, message.id)
    if packed is not None:
        return unpack(packed.data)
    if message.email_id:
        email = session.get(Email, message.email_id)
        if email is not None:
            from carteiro.outbound.service import raw_bytes

            return raw_bytes(session, email, settings=settings)
    raise NotFound(f"the original bytes of message {message_id} are not stored")


def attachment(
    session: Session, *, tenant_id: int, message_id: int, attachment_id: int, store: BlobStore
) -> tuple[InboxAttachment, Iterator[bytes]]:
    get_message_row(session, tenant_id=tenant_id, message_id=message_id)
    row = session.get(InboxAttachment, attachment_id)
    if row is None or row.message_id != message_id or row.tenant_id != tenant_id:
        raise NotFound(f"attachment {attachment_id} not found")
    return row, store.stream(row.storage_key)
