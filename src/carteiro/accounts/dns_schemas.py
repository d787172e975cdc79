"""Response shapes of DNS checks (SPF, DKIM, DMARC, MX) and the records to publish."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

CheckStatus = Literal["ok", "warning", "error", "skipped"]

DnsStatus = Literal["ok", "warning", "error"]


class DnsRecord(BaseModel):
    """A record to publish at the domain's DNS host."""

    type: Literal["TXT", "MX"]
    name: str
    value: str
    purpose: str
    note: str | None = None


class Check(BaseModel):
    """One DNS check: what was found and whether it is good enough."""

    name: Literal["spf", "dkim", "dmarc", "mx"]
    status: CheckStatus
    message: str
    found: list[str] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)


class DnsReport(BaseModel):
    domain: str
    status: DnsStatus
    checks: list[Check]
    records: list[DnsRecord]
    checked_at: datetime


class AccountDnsReport(DnsReport):
    account_id: int
    account: str
    smtp_host: str
