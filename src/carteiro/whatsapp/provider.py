"""What every WhatsApp provider offers the dispatcher: send text or a template, one outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class ErrorClass(StrEnum):
    """What a failed send means for the dispatch (see `whatsapp.errors.classify`)."""

    TRANSIENT = "transient"  # retry within the attempt budget
    THROTTLED = "throttled"  # retry later, slower
    AMBIGUOUS = "ambiguous"  # the request left; the provider may have accepted it
    WINDOW_CLOSED = "window_closed"  # free text outside the 24 h window: use a template
    RECIPIENT = "recipient"  # not a WhatsApp user, or undeliverable
    OPT_OUT = "opt_out"  # the person stopped these messages
    PAYLOAD = "payload"  # template or parameter error: fix the request
    ACCOUNT = "account"  # token, restriction, payment: pause the number

    @property
    def retryable(self) -> bool:
        return self in (ErrorClass.TRANSIENT, ErrorClass.THROTTLED)


@dataclass(frozen=True)
class ProviderError:
    cls: ErrorClass
    code: str
    message: str
    retry_after: float | None = None


@dataclass(frozen=True)
class SendResult:
    """`message_id` set when the provider accepted the message (not yet delivered)."""

    message_id: str | None
    recipient_id: str | None = None
    provider_status: str | None = None
    error: ProviderError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None and self.message_id is not None


@dataclass(frozen=True)
class TemplateMessage:
    """An approved template with its parameters in body order (named or positional)."""

    name: str
    language: str
    params: list[tuple[str, str]] = field(default_factory=list)
    named: bool = True


class WhatsAppProvider(Protocol):
    kind: str
    # Whether the provider enforces Meta's 24 h window and needs approved templates outside it.
    window_rule: bool

    async def send_text(self, *, to: str, body: str, correlation: str) -> SendResult: ...

    async def send_template(
        self, *, to: str, template: TemplateMessage, correlation: str
    ) -> SendResult: ...

    async def aclose(self) -> None: ...
