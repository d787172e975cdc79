"""Account request and response shapes; passwords are write-only."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from carteiro.db.types import INT32_MAX

Security = Literal["starttls", "ssl", "none"]
AccountStatus = Literal["active", "paused", "disabled"]


def _bounded_numbers(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """Warm-up caps become daily limits compared with integer counters: finite and in range."""
    for key, value in (plan or {}).items():
        for number in value if isinstance(value, list) else [value]:
            if isinstance(number, bool) or not isinstance(number, int | float):
                continue
            if not math.isfinite(number) or abs(number) > INT32_MAX:
                raise ValueError(f"{key}: numbers must be finite and at most {INT32_MAX}")
    return plan


WarmupPlan = Annotated[dict[str, Any] | None, AfterValidator(_bounded_numbers)]


class SmtpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255)
    port: int | None = Field(None, ge=1, le=65535, description="default: 587, 465 for ssl")
    security: Security = "starttls"
    username: str | None = Field(None, max_length=320)
    password: str | None = Field(None, max_length=1024, description="write-only")
    verify_tls: bool = True
    ca_file: str | None = Field(None, max_length=1024)


class SmtpUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, min_length=1, max_length=255)
    port: int | None = Field(None, ge=1, le=65535)
    security: Security | None = None
    username: str | None = Field(None, max_length=320)
    password: str | None = Field(None, max_length=1024)
    verify_tls: bool | None = None
    ca_file: str | None = Field(None, max_length=1024)


class SmtpPublic(BaseModel):
    host: str
    port: int
    security: Security
    username: str | None
    has_password: bool
    verify_tls: bool
    ca_file: str | None


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_minute: int | None = Field(None, ge=1, le=INT32_MAX)
    per_hour: int | None = Field(None, ge=1, le=INT32_MAX)
    per_day: int | None = Field(None, ge=1, le=INT32_MAX)
    max_connections: int = Field(2, ge=1, le=100)


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\r\n]+$")
    email: EmailStr
    display_name: str | None = Field(None, max_length=200, pattern=r"^[^\r\n]*$")
    smtp: SmtpIn
    imap: dict[str, Any] | None = None
    limits: Limits = Field(default_factory=Limits)
    warmup: WarmupPlan = None
    weight: int = Field(1, ge=1, le=1000)


class AccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[^\r\n]+$")
    email: EmailStr | None = None
    display_name: str | None = Field(None, max_length=200, pattern=r"^[^\r\n]*$")
    smtp: SmtpUpdate | None = None
    imap: dict[str, Any] | None = None
    limits: Limits | None = None
    warmup: WarmupPlan = None
    weight: int | None = Field(None, ge=1, le=1000)
    status: AccountStatus | None = None


class WindowUsage(BaseModel):
    limit: int | None
    used: int
    remaining: int | None


class AccountUsagePublic(BaseModel):
    """What the account may still send now (fixed UTC windows), the messages being sent and
    the SMTP connections workers hold for it."""

    minute: WindowUsage
    hour: WindowUsage
    day: WindowUsage
    in_flight: int
    connections: int
    max_connections: int
    # The smallest window's remaining count; None when no window limits the account.
    remaining_now: int | None


class WarmupPublic(BaseModel):
    day: int
    cap: int
    target: int
    complete: bool


class AccountPublic(BaseModel):
    id: int
    name: str
    email: str
    display_name: str | None
    smtp: SmtpPublic
    imap: dict[str, Any] | None
    limits: Limits
    warmup: dict[str, Any] | None
    weight: int
    status: AccountStatus
    status_reason: str | None
    cooldown_until: datetime | None = None
    usage: AccountUsagePublic | None = None
    warmup_status: WarmupPublic | None = None
    last_health_check_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AccountTestResult(BaseModel):
    ok: bool
    account: str
    detail: str
    error_type: str | None = None
