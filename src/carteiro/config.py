"""One Settings object, read from the environment or `.env`, shared by every front end."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    # Accept both the environment name and the attribute name, so tests can pass either.
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Every configuration name Carteiro reads; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        "sqlite:///./.carteiro/carteiro.db", validation_alias=_env("CARTEIRO_DATABASE_URL")
    )
    data_dir: Path = Field(Path("./.carteiro"), validation_alias=_env("CARTEIRO_DATA_DIR"))
    host: str = Field("127.0.0.1", validation_alias=_env("CARTEIRO_HOST"))
    port: int = Field(8787, validation_alias=_env("CARTEIRO_PORT"))
    secret_key: str | None = Field(None, validation_alias=_env("CARTEIRO_SECRET_KEY"))
    api_key: str | None = Field(None, validation_alias=_env("CARTEIRO_API_KEY"))
    public_url: str | None = Field(None, validation_alias=_env("CARTEIRO_PUBLIC_URL"))
    log_level: str = Field("INFO", validation_alias=_env("CARTEIRO_LOG_LEVEL"))
    # text, or json: one object per line with the seed's fields (timestamp, level, service,
    # tenantId, leadId, action, result, duration, error).
    log_format: Literal["text", "json"] = Field(
        "text", validation_alias=_env("CARTEIRO_LOG_FORMAT")
    )

    # Seed names (MCP Gmail Sender).
    gmail_email: str | None = Field(None, validation_alias=_env("GMAIL_EMAIL"))
    gmail_app_password: str | None = Field(None, validation_alias=_env("GMAIL_APP_PASSWORD"))
    email_max_retries: int = Field(3, ge=0, le=50, validation_alias=_env("EMAIL_MAX_RETRIES"))
    email_batch_size: int = Field(50, ge=1, le=5000, validation_alias=_env("EMAIL_BATCH_SIZE"))
    email_rate_limit_per_hour: int = Field(
        100, ge=0, validation_alias=_env("EMAIL_RATE_LIMIT_PER_HOUR")
    )

    # Capture transport and default sender while no account exists.
    default_from: str = Field(
        "carteiro@localhost.localdomain", validation_alias=_env("CARTEIRO_DEFAULT_FROM")
    )

    # Queue and worker tuning.
    worker_concurrency: int = Field(
        50, ge=1, le=1000, validation_alias=_env("CARTEIRO_WORKER_CONCURRENCY")
    )
    lease_seconds: float = Field(60.0, gt=0, validation_alias=_env("CARTEIRO_LEASE_SECONDS"))
    poll_interval: float = Field(1.0, gt=0, validation_alias=_env("CARTEIRO_POLL_INTERVAL"))
    retry_base_seconds: float = Field(
        1.0, ge=0, validation_alias=_env("CARTEIRO_RETRY_BASE_SECONDS")
    )
    retry_max_seconds: float = Field(
        30.0, ge=0, validation_alias=_env("CARTEIRO_RETRY_MAX_SECONDS")
    )
    breaker_failures: int = Field(5, ge=1, validation_alias=_env("CARTEIRO_BREAKER_FAILURES"))
    breaker_cooldown_seconds: float = Field(
        60.0, ge=0, validation_alias=_env("CARTEIRO_BREAKER_COOLDOWN_SECONDS")
    )
    shutdown_grace_seconds: float = Field(
        30.0, ge=0, validation_alias=_env("CARTEIRO_SHUTDOWN_GRACE_SECONDS")
    )
    smtp_timeout: float = Field(30.0, gt=0, validation_alias=_env("CARTEIRO_SMTP_TIMEOUT"))
    # Whether account SMTP/IMAP hosts may be loopback, private or other internal addresses;
    # with several tenants, false keeps them from reaching this network's internal services.
    accounts_allow_private: bool = Field(
        True, validation_alias=_env("CARTEIRO_ACCOUNTS_ALLOW_PRIVATE")
    )

    # Size bounds (Gmail accepts 25 MB messages).
    max_message_bytes: int = Field(
        25 * 1024 * 1024, gt=0, validation_alias=_env("CARTEIRO_MAX_MESSAGE_BYTES")
    )
    max_attachment_bytes: int = Field(
        10 * 1024 * 1024, gt=0, validation_alias=_env("CARTEIRO_MAX_ATTACHMENT_BYTES")
    )
    max_body_chars: int = Field(
        5 * 1024 * 1024, gt=0, validation_alias=_env("CARTEIRO_MAX_BODY_CHARS")
    )
    # HTTP request bodies, checked before authentication: most JSON, mail with attachments
    # (a message of max_message_bytes in base64 is 4/3 of it), spreadsheet uploads.
    max_request_bytes: int = Field(
        1024 * 1024, gt=0, validation_alias=_env("CARTEIRO_MAX_REQUEST_BYTES")
    )
    max_mail_request_bytes: int = Field(
        36 * 1024 * 1024, gt=0, validation_alias=_env("CARTEIRO_MAX_MAIL_REQUEST_BYTES")
    )
    max_upload_request_bytes: int = Field(
        50 * 1024 * 1024 + 64 * 1024,
        gt=0,
        validation_alias=_env("CARTEIRO_MAX_UPLOAD_REQUEST_BYTES"),
    )

    # Deliverability: DNS checks, unsubscribe links, webhooks, account health.
    dns_nameservers: str = Field("", validation_alias=_env("CARTEIRO_DNS_NAMESERVERS"))
    dns_port: int = Field(53, ge=1, le=65535, validation_alias=_env("CARTEIRO_DNS_PORT"))
    dns_timeout: float = Field(5.0, gt=0, validation_alias=_env("CARTEIRO_DNS_TIMEOUT"))
    unsubscribe_ttl_days: int = Field(
        365, ge=0, le=36500, validation_alias=_env("CARTEIRO_UNSUBSCRIBE_TTL_DAYS")
    )
    webhook_allow_private: bool = Field(
        False, validation_alias=_env("CARTEIRO_WEBHOOK_ALLOW_PRIVATE")
    )
    webhook_timeout: float = Field(10.0, gt=0, validation_alias=_env("CARTEIRO_WEBHOOK_TIMEOUT"))
    webhook_max_attempts: int = Field(
        10, ge=1, validation_alias=_env("CARTEIRO_WEBHOOK_MAX_ATTEMPTS")
    )
    webhook_retry_base_seconds: float = Field(
        10.0, ge=0, validation_alias=_env("CARTEIRO_WEBHOOK_RETRY_BASE_SECONDS")
    )
    webhook_retry_max_seconds: float = Field(
        3600.0, ge=0, validation_alias=_env("CARTEIRO_WEBHOOK_RETRY_MAX_SECONDS")
    )
    webhook_poll_interval: float = Field(
        1.0, gt=0, validation_alias=_env("CARTEIRO_WEBHOOK_POLL_INTERVAL")
    )
    webhook_batch_size: int = Field(100, ge=1, validation_alias=_env("CARTEIRO_WEBHOOK_BATCH_SIZE"))
    webhook_concurrency: int = Field(
        10, ge=1, validation_alias=_env("CARTEIRO_WEBHOOK_CONCURRENCY")
    )
    # Campaigns: how often the planner looks at running campaigns, and the most messages it
    # enqueues for one campaign per look (also the budget of mail with no real account).
    campaign_poll_interval: float = Field(
        2.0, gt=0, validation_alias=_env("CARTEIRO_CAMPAIGN_POLL_INTERVAL")
    )
    campaign_batch_max: int = Field(
        1000, ge=1, le=1000, validation_alias=_env("CARTEIRO_CAMPAIGN_BATCH_MAX")
    )
    health_check_interval_seconds: float = Field(
        21600.0, gt=0, validation_alias=_env("CARTEIRO_HEALTH_CHECK_INTERVAL_SECONDS")
    )
    health_max_failures: int = Field(3, ge=1, validation_alias=_env("CARTEIRO_HEALTH_MAX_FAILURES"))

    # Open and click tracking (opt-in per message): anonymous mode is the default for tenants
    # that have not chosen; hits are classified once they are this old, so a scanner's burst
    # of clicks is seen whole.
    tracking_anonymous: bool = Field(False, validation_alias=_env("CARTEIRO_TRACKING_ANONYMOUS"))
    tracking_settle_seconds: float = Field(
        10.0, ge=0, le=3600, validation_alias=_env("CARTEIRO_TRACKING_SETTLE_SECONDS")
    )
    tracking_poll_interval: float = Field(
        1.0, gt=0, validation_alias=_env("CARTEIRO_TRACKING_POLL_INTERVAL")
    )
    # Raw hits (User-Agent, network hash) are kept this long; campaign counters stay. 0 keeps
    # them forever.
    tracking_retention_days: float = Field(
        365.0, ge=0, validation_alias=_env("CARTEIRO_TRACKING_RETENTION_DAYS")
    )

    # The web console: people's sessions, login throttling, the first-run setup link.
    session_hours: float = Field(168.0, gt=0, validation_alias=_env("CARTEIRO_SESSION_HOURS"))
    session_idle_hours: float = Field(
        12.0, gt=0, validation_alias=_env("CARTEIRO_SESSION_IDLE_HOURS")
    )
    login_max_failures: int = Field(5, ge=1, validation_alias=_env("CARTEIRO_LOGIN_MAX_FAILURES"))
    login_lockout_minutes: float = Field(
        15.0, gt=0, validation_alias=_env("CARTEIRO_LOGIN_LOCKOUT_MINUTES")
    )
    login_ip_max_failures: int = Field(
        20, ge=1, validation_alias=_env("CARTEIRO_LOGIN_IP_MAX_FAILURES")
    )
    setup_token_hours: float = Field(
        24.0, gt=0, validation_alias=_env("CARTEIRO_SETUP_TOKEN_HOURS")
    )
    default_locale: str = Field("pt_BR", validation_alias=_env("CARTEIRO_DEFAULT_LOCALE"))
    default_timezone: str = Field(
        "America/Sao_Paulo", validation_alias=_env("CARTEIRO_DEFAULT_TIMEZONE")
    )
    # MCP: the largest attachment get_attachment returns inline, and the default tool preset.
    mcp_attachment_max_bytes: int = Field(
        5_000_000, ge=1, validation_alias=_env("CARTEIRO_MCP_ATTACHMENT_MAX_BYTES")
    )
    mcp_tools: str = Field("all", validation_alias=_env("CARTEIRO_MCP_TOOLS"))
    oauth_enabled: bool = Field(False, validation_alias=_env("CARTEIRO_OAUTH_ENABLED"))
    # OAuth access tokens (keys) expire and are renewed with rotating refresh tokens.
    oauth_access_token_seconds: int = Field(
        3600, ge=60, validation_alias=_env("CARTEIRO_OAUTH_ACCESS_TOKEN_SECONDS")
    )
    oauth_refresh_token_days: int = Field(
        30, ge=1, validation_alias=_env("CARTEIRO_OAUTH_REFRESH_TOKEN_DAYS")
    )
    mcp_elicit_review: bool = Field(True, validation_alias=_env("CARTEIRO_MCP_ELICIT_REVIEW"))

    # AI: the chat model agents and the responder use (LangChain), and the responder's pace.
    llm_provider: str | None = Field(None, validation_alias=_env("CARTEIRO_LLM_PROVIDER"))
    llm_model: str | None = Field(None, validation_alias=_env("CARTEIRO_LLM_MODEL"))
    llm_api_key: str | None = Field(None, validation_alias=_env("CARTEIRO_LLM_API_KEY"))
    llm_base_url: str | None = Field(None, validation_alias=_env("CARTEIRO_LLM_BASE_URL"))
    llm_timeout_seconds: float = Field(
        60.0, gt=0, validation_alias=_env("CARTEIRO_LLM_TIMEOUT_SECONDS")
    )
    responder_tokens_per_minute: int = Field(
        50000, ge=0, validation_alias=_env("CARTEIRO_RESPONDER_TOKENS_PER_MINUTE")
    )
    responder_max_attempts: int = Field(
        5, ge=1, le=50, validation_alias=_env("CARTEIRO_RESPONDER_MAX_ATTEMPTS")
    )
    responder_batch_size: int = Field(
        20, ge=1, le=1000, validation_alias=_env("CARTEIRO_RESPONDER_BATCH_SIZE")
    )
    responder_concurrency: int = Field(
        4, ge=1, le=200, validation_alias=_env("CARTEIRO_RESPONDER_CONCURRENCY")
    )
    responder_poll_interval: float = Field(
        2.0, gt=0, validation_alias=_env("CARTEIRO_RESPONDER_POLL_INTERVAL")
    )
    responder_retry_base_seconds: float = Field(
        5.0, ge=0, validation_alias=_env("CARTEIRO_RESPONDER_RETRY_BASE_SECONDS")
    )
    responder_retry_max_seconds: float = Field(
        600.0, ge=0, validation_alias=_env("CARTEIRO_RESPONDER_RETRY_MAX_SECONDS")
    )
    responder_max_reply_tokens: int = Field(
        800, ge=16, validation_alias=_env("CARTEIRO_RESPONDER_MAX_REPLY_TOKENS")
    )

    # Appointments (agendamentos): reminders, invitations, meeting links.
    # Minutes before an appointment its reminders fire ("1440,60"); a tenant may override.
    appointment_reminders: str = Field(
        "1440,60", validation_alias=_env("CARTEIRO_APPOINTMENT_REMINDERS")
    )
    appointment_duration_minutes: int = Field(
        30, ge=5, le=1440, validation_alias=_env("CARTEIRO_APPOINTMENT_DURATION_MINUTES")
    )
    appointment_meeting_url: str = Field(
        "https://meet.jit.si/carteiro-{uid}",
        validation_alias=_env("CARTEIRO_APPOINTMENT_MEETING_URL"),
    )
    appointment_organizer: str | None = Field(
        None, validation_alias=_env("CARTEIRO_APPOINTMENT_ORGANIZER")
    )
    appointment_poll_interval: float = Field(
        1.0, gt=0, validation_alias=_env("CARTEIRO_APPOINTMENT_POLL_INTERVAL")
    )
    appointment_batch_size: int = Field(
        200, ge=1, le=5000, validation_alias=_env("CARTEIRO_APPOINTMENT_BATCH_SIZE")
    )
    # The approved WhatsApp template a WhatsApp appointment's reminders are dispatched with
    # (from the tenant's registry; its variables among nome, quando, link).
    appointment_whatsapp_template: str = Field(
        "lembrete_agendamento", validation_alias=_env("CARTEIRO_APPOINTMENT_WHATSAPP_TEMPLATE")
    )

    # Dispatches (disparos) and the WhatsApp channel.
    dispatch_max_attempts: int = Field(
        3, ge=1, le=20, validation_alias=_env("CARTEIRO_DISPATCH_MAX_ATTEMPTS")
    )
    dispatch_retry_base_seconds: float = Field(
        1.0, ge=0, validation_alias=_env("CARTEIRO_DISPATCH_RETRY_BASE_SECONDS")
    )
    dispatch_retry_max_seconds: float = Field(
        30.0, ge=0, validation_alias=_env("CARTEIRO_DISPATCH_RETRY_MAX_SECONDS")
    )
    dispatch_dead_letter_days: float = Field(
        14.0, gt=0, validation_alias=_env("CARTEIRO_DISPATCH_DEAD_LETTER_DAYS")
    )
    dispatch_poll_interval: float = Field(
        1.0, gt=0, validation_alias=_env("CARTEIRO_DISPATCH_POLL_INTERVAL")
    )
    dispatch_batch_size: int = Field(
        100, ge=1, le=5000, validation_alias=_env("CARTEIRO_DISPATCH_BATCH_SIZE")
    )
    dispatch_lease_seconds: float = Field(
        60.0, gt=0, validation_alias=_env("CARTEIRO_DISPATCH_LEASE_SECONDS")
    )
    # Per purpose, at most this many dispatches to one lead per rolling 24 h (0: no cap).
    dispatch_daily_cap_cobranca: int = Field(
        3, ge=0, validation_alias=_env("CARTEIRO_DISPATCH_DAILY_CAP_COBRANCA")
    )
    dispatch_daily_cap_marketing: int = Field(
        1, ge=0, validation_alias=_env("CARTEIRO_DISPATCH_DAILY_CAP_MARKETING")
    )
    # Quiet-hours preset for collection dispatches (cobranca_br, comercial, none).
    dispatch_quiet_policy_cobranca: str = Field(
        "cobranca_br", validation_alias=_env("CARTEIRO_DISPATCH_QUIET_POLICY_COBRANCA")
    )
    dispatch_quiet_jitter_seconds: float = Field(
        300.0, ge=0, validation_alias=_env("CARTEIRO_DISPATCH_QUIET_JITTER_SECONDS")
    )
    whatsapp_graph_base_url: str = Field(
        "https://graph.facebook.com", validation_alias=_env("CARTEIRO_WHATSAPP_GRAPH_BASE_URL")
    )
    whatsapp_graph_version: str = Field(
        "v25.0", validation_alias=_env("CARTEIRO_WHATSAPP_GRAPH_VERSION")
    )
    whatsapp_timeout: float = Field(10.0, gt=0, validation_alias=_env("CARTEIRO_WHATSAPP_TIMEOUT"))
    # How long an ambiguous send (a timeout after the request left) waits for a status
    # webhook carrying its correlation id before it is given up as an error, never re-sent.
    whatsapp_ambiguous_wait_seconds: float = Field(
        300.0, ge=0, validation_alias=_env("CARTEIRO_WHATSAPP_AMBIGUOUS_WAIT_SECONDS")
    )
    whatsapp_breaker_seconds: float = Field(
        600.0, ge=0, validation_alias=_env("CARTEIRO_WHATSAPP_BREAKER_SECONDS")
    )
    whatsapp_optout_keywords: str = Field(
        "PARAR,SAIR,STOP,CANCELAR", validation_alias=_env("CARTEIRO_WHATSAPP_OPTOUT_KEYWORDS")
    )
    # The unofficial gateway: off unless enabled, and then paced slowly (ban risk).
    whatsapp_evolution_enabled: bool = Field(
        False, validation_alias=_env("CARTEIRO_WHATSAPP_EVOLUTION_ENABLED")
    )
    whatsapp_evolution_min_interval_seconds: float = Field(
        8.0, ge=0, validation_alias=_env("CARTEIRO_WHATSAPP_EVOLUTION_MIN_INTERVAL_SECONDS")
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("CARTEIRO_DATABASE_URL must be sqlite:///… or postgresql://…")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
