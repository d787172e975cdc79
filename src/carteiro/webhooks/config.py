"""Webhook delivery settings: targets allowed, timeouts, retries, batch sizes."""

from __future__ import annotations

from dataclasses import dataclass

from carteiro.config import Settings


@dataclass(frozen=True)
class WebhookConfig:
    """The knobs of delivery; `from_settings` reads them from the shared Settings."""

    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    webhook_max_attempts: int = 10
    webhook_retry_base_seconds: float = 10.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_poll_interval: float = 1.0
    webhook_batch_size: int = 100
    webhook_concurrency: int = 10
    # Where the console is reached, for the approval link of a `held` event.
    public_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        return cls(
            webhook_allow_private=bool(settings.webhook_allow_private),
            webhook_timeout=float(settings.webhook_timeout),
            webhook_max_attempts=int(settings.webhook_max_attempts),
            webhook_retry_base_seconds=float(settings.webhook_retry_base_seconds),
            webhook_retry_max_seconds=float(settings.webhook_retry_max_seconds),
            webhook_poll_interval=float(settings.webhook_poll_interval or settings.poll_interval),
            webhook_batch_size=int(settings.webhook_batch_size),
            webhook_concurrency=int(settings.webhook_concurrency),
            public_url=settings.public_url,
        )
