"""Pool mail sent by another account than the one it was composed for: new From, new seal."""

from __future__ import annotations

from datetime import datetime

from carteiro.mail.compose import set_from
from carteiro.mail.dkim import strip_signatures
from carteiro.outbound.dkim.signers import Signers


def resign(
    raw: bytes,
    *,
    from_email: str,
    from_name: str | None,
    tenant_id: int,
    at: datetime,
    signers: Signers | None,
) -> bytes:
    """`raw` with the account's From and that domain's DKIM signature. Without a key the old
    signature goes too: it covered the old From and would only fail verification."""
    raw = set_from(raw, from_addr=from_email, from_name=from_name)
    if signers is None or signers.get(tenant_id=tenant_id, from_email=from_email) is None:
        return strip_signatures(raw)
    return signers.sign(raw, tenant_id=tenant_id, from_email=from_email, at=at)
