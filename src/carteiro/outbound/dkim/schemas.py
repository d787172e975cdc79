"""Request and response shapes of DKIM keys and the DNS records to publish."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DkimKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(max_length=253, description="the From domain to sign for")
    selector: str = Field("carteiro", max_length=63)


class DnsRecord(BaseModel):
    """A record to publish at the domain's DNS host."""

    type: Literal["TXT", "MX"]
    name: str
    value: str
    purpose: str
    note: str | None = None


class DkimKeyPublic(BaseModel):
    id: int
    domain: str
    selector: str
    algorithm: str
    bits: int
    active: bool
    created_at: datetime
    record: DnsRecord
