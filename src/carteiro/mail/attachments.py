"""A file to attach: its name, MIME type and bytes, validated before composition."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from carteiro.errors import InvalidInput

# What a file name must not hold: control characters (tab included) and the invisible marks that
# reorder or hide text, so "invoice\u202efdp.exe" cannot be shown as "invoiceexe.pdf".
_BAD_FILENAME = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)

_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Attachment:
    """A file to attach: the name the recipient sees, its MIME type and its decoded bytes."""

    filename: str
    content_type: str
    data: bytes

    @classmethod
    def from_base64(
        cls, filename: str, content_type: str, content_base64: str, *, field: str
    ) -> Attachment:
        """Decode strictly (whitespace and line breaks aside) and validate name and type."""
        cleaned = _WHITESPACE.sub("", content_base64) if isinstance(content_base64, str) else None
        try:
            # strict_mode refuses data after padding; the length check refuses stray padding.
            if cleaned is None or len(cleaned) % 4:
                raise ValueError("not base64")
            data = binascii.a2b_base64(cleaned, strict_mode=True)
        except ValueError:
            raise InvalidInput(
                f"{field}.content_base64: not valid base64", field=f"{field}.content_base64"
            ) from None
        attachment = cls(filename=filename, content_type=str(content_type).lower(), data=data)
        check_attachment(attachment, field)
        return attachment


def check_attachment(attachment: Attachment, field: str) -> None:
    """Refuses a file name or MIME type that mail readers would misread or mishandle."""
    name = attachment.filename
    if not isinstance(name, str) or not name.strip() or name in (".", ".."):
        raise InvalidInput(f"{field}.filename: a file name is required", field=f"{field}.filename")
    if "/" in name or "\\" in name or _BAD_FILENAME.search(name) or len(name) > 255:
        raise InvalidInput(
            f"{field}.filename: {name!r} must be a plain file name of at most 255 characters, "
            "without path separators, line breaks, control characters or invisible "
            "direction marks",
            field=f"{field}.filename",
        )
    if "=?" in name:
        # Mail readers would decode it as an RFC 2047 word and show a different name.
        raise InvalidInput(f"{field}.filename: must not contain '=?'", field=f"{field}.filename")
    ctype = attachment.content_type
    if not isinstance(ctype, str) or not _MIME_TYPE.fullmatch(ctype.lower()):
        raise InvalidInput(
            f"{field}.content_type: {ctype!r} is not a MIME type like 'application/pdf'",
            field=f"{field}.content_type",
        )
    if ctype.lower().split("/")[0] in ("multipart", "message"):
        # These may not be base64-encoded (RFC 2046); an e-mail file travels fine as bytes.
        raise InvalidInput(
            f"{field}.content_type: {ctype!r} cannot be attached; use 'application/octet-stream'",
            field=f"{field}.content_type",
        )
