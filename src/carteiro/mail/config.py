"""Deliverability settings, read by name from the shared Settings with defaults meanwhile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carteiro.config import Settings


def _get(settings: Settings, name: str, default: Any) -> Any:
    value = getattr(settings, name, None)
    return default if value is None else value


def _nameservers(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    return tuple(str(v) for v in value or ())


@dataclass(frozen=True)
class DeliverabilityConfig:
    """Every knob of this package; `from_settings` reads them by name with safe defaults."""

    dns_nameservers: tuple[str, ...] = ()
    dns_port: int = 53
    dns_timeout: float = 5.0
    public_url: str = "http://127.0.0.1:8787"
    unsubscribe_ttl_days: int = 365
    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    webhook_max_attempts: int = 10
    webhook_retry_base_seconds: float = 10.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_poll_interval: float = 1.0
    webhook_batch_size: int = 100
    webhook_concurrency: int = 10
    health_interval_seconds: float = 6 * 3600.0
    health_max_failures: int = 3

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliverabilityConfig:
        d = cls()
        public = getattr(settings, "public_url", None) or (
            f"http://{settings.host}:{settings.port}"
        )
        return cls(
            dns_nameservers=_nameservers(_get(settings, "dns_nameservers", d.dns_nameservers)),
            dns_port=int(_get(settings, "dns_port", d.dns_port)),
            dns_timeout=float(_get(settings, "dns_timeout", d.dns_timeout)),
            public_url=str(public).rstrip("/"),
            unsubscribe_ttl_days=int(
                _get(settings, "unsubscribe_ttl_days", d.unsubscribe_ttl_days)
            ),
            webhook_allow_private=bool(_get(settings, "webhook_allow_private", False)),
            webhook_timeout=float(_get(settings, "webhook_timeout", d.webhook_timeout)),
            webhook_max_attempts=int(
                _get(settings, "webhook_max_attempts", d.webhook_max_attempts)
            ),
            webhook_retry_base_seconds=float(
                _get(settings, "webhook_retry_base_seconds", d.webhook_retry_base_seconds)
            ),
            webhook_retry_max_seconds=float(
                _get(settings, "webhook_retry_max_seconds", d.webhook_retry_max_seconds)
            ),
            webhook_poll_interval=float(
                _get(settings, "webhook_poll_interval", settings.poll_interval)
            ),
            webhook_batch_size=int(_get(settings, "webhook_batch_size", d.webhook_batch_size)),
            webhook_concurrency=int(_get(settings, "webhook_concurrency", d.webhook_concurrency)),
            health_interval_seconds=float(
                _get(settings, "health_check_interval_seconds", d.health_interval_seconds)
            ),
            health_max_failures=int(_get(settings, "health_max_failures", d.health_max_failures)),
        )
