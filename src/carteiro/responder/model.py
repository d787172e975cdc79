"""The model the responder drafts with, as a small protocol, and how its failures are named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ErrorType = Literal["rate_limit", "timeout", "refusal", "bad_output", "provider_error"]
ERROR_TYPES: tuple[ErrorType, ...] = (
    "rate_limit",
    "timeout",
    "refusal",
    "bad_output",
    "provider_error",
)
# Failures of the job itself, outside the model: retried or final by their own rules.
JOB_ERROR_TYPES = ("send_refused", "send_rate_limited", "rule_unavailable")


@dataclass(frozen=True)
class PromptMessage:
    role: Literal["system", "user"]
    text: str


@dataclass(frozen=True)
class Completion:
    """The model's reply and the tokens it cost (as the provider counted them)."""

    text: str
    input_tokens: int
    output_tokens: int

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ModelError(Exception):
    """A model call that failed, with its kind; `retry_after` when the provider said when."""

    def __init__(self, kind: ErrorType, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.kind: ErrorType = kind
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        # A refusal is the model's answer to this content; asking again gets the same one.
        return self.kind != "refusal"


class ReplyModel(Protocol):
    """Drafts one reply; raises ModelError (or anything, which `classify` names)."""

    @property
    def provider(self) -> str: ...

    async def complete(self, messages: list[PromptMessage], *, max_tokens: int) -> Completion: ...


def _status(exc: BaseException) -> int | None:
    for name in ("status_code", "status", "http_status"):
        value = getattr(exc, name, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify(exc: BaseException) -> ModelError:
    """Names any provider's exception by what the pipeline should do about it."""
    if isinstance(exc, ModelError):
        return exc
    name = type(exc).__name__.lower()
    status = _status(exc)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) or "timeout" in name or status in (408, 504):
        return ModelError("timeout", text)
    if "ratelimit" in name or status == 429 or "rate limit" in text.lower():
        return ModelError("rate_limit", text, retry_after=_retry_after(exc))
    if "contentfilter" in name or "refus" in name or "safety" in name:
        return ModelError("refusal", text)
    if status is not None and 400 <= status < 500 and status not in (401, 403):
        return ModelError("bad_output", text)
    return ModelError("provider_error", text)
