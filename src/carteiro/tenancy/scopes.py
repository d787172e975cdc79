"""The scopes an API key can hold; `*` grants all of them."""

from __future__ import annotations

EMAILS_SEND = "emails:send"
EMAILS_READ = "emails:read"
EMAILS_MANAGE = "emails:manage"
ACCOUNTS_READ = "accounts:read"
ACCOUNTS_WRITE = "accounts:write"
LEADS_READ = "leads:read"
LEADS_WRITE = "leads:write"
INBOX_READ = "inbox:read"
INBOX_WRITE = "inbox:write"
DELIVERABILITY_READ = "deliverability:read"
DELIVERABILITY_WRITE = "deliverability:write"
WEBHOOKS_WRITE = "webhooks:write"
CAMPAIGNS_READ = "campaigns:read"
CAMPAIGNS_WRITE = "campaigns:write"
ADMIN = "admin"

ALL_SCOPES = (
    EMAILS_SEND,
    EMAILS_READ,
    EMAILS_MANAGE,
    ACCOUNTS_READ,
    ACCOUNTS_WRITE,
    LEADS_READ,
    LEADS_WRITE,
    INBOX_READ,
    INBOX_WRITE,
    DELIVERABILITY_READ,
    DELIVERABILITY_WRITE,
    WEBHOOKS_WRITE,
    CAMPAIGNS_READ,
    CAMPAIGNS_WRITE,
    ADMIN,
)
EVERYTHING = "*"

# What a new key for an agent or an app gets unless scopes are given: send and follow its mail.
DEFAULT_KEY_SCOPES = (EMAILS_SEND, EMAILS_READ)


def effective(scopes: tuple[str, ...] | list[str]) -> frozenset[str]:
    """The scopes a key really holds: `*` and `admin` each grant every scope."""
    if EVERYTHING in scopes or ADMIN in scopes:
        return frozenset(ALL_SCOPES)
    return frozenset(scopes)
