"""Request and response shapes of DKIM keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from carteiro.accounts.dns_schemas import DnsRecord


class DkimKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(max_length=253, description="the From domain to sign for")
    selector: str = Field("carteiro", max_length=63)


class DkimKeyPublic(BaseModel):
    id: int
    domain: str
    selector: str
    algorithm: str
    bits: int
    active: bool
    created_at: datetime
    record: DnsRecord
