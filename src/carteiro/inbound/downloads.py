"""Original bytes of a message and its attachments, read back from storage."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session

from carteiro.config import Settings
from carteiro.errors import NotFound
from carteiro.inbound.models import InboxAttachment, InboxRaw
from carteiro.inbound.replies import get_message as get_message_row
from carteiro.inbound.storage import BlobStore, unpack
from carteiro.outbound.models import Email


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
