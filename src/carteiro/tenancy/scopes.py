"""The scopes an API key can hold; `*` grants all of them."""

from __future__ import annotations

EMAILS_SEND = "emails:send"
EMAILS_READ = "emails:read"
EMAILS_MANAGE = "emails:manage"
ACCOUNTS_READ = "accounts:read"
ACCOUNTS_WRITE = "accounts:write"
ADMIN = "admin"

ALL_SCOPES = (EMAILS_SEND, EMAILS_READ, EMAILS_MANAGE, ACCOUNTS_READ, ACCOUNTS_WRITE, ADMIN)
EVERYTHING = "*"
