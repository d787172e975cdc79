"""Classifies SMTP replies (basic code + RFC 3463 enhanced code + wording) into what to do next."""

from __future__ import annotations

import re
from enum import StrEnum


class ReplyClass(StrEnum):
    """What a failed SMTP reply means for the message, the address and the account."""

    HARD_BOUNCE = "hard_bounce"  # the address does not exist: fail and suppress it
    SOFT_BOUNCE = "soft_bounce"  # temporary trouble at the recipient: retry as usual
    THROTTLED = "throttled"  # the provider limits our rate or quota: slow the account down
    AUTH = "auth"  # our login or TLS set-up is refused: the account needs attention
    POLICY_SPAM = "policy_spam"  # refused as spam, reputation or policy: pause bulk mail
    OTHER = "other"


# class.subject.detail; the first one in the reply wins (Gmail repeats it on every line).
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_AUTH_BASIC = frozenset({530, 534, 535, 538})
# 5.7.8 bad credentials, 5.7.9 mechanism too weak, 5.7.14 Gmail "log in via your browser",
# 5.7.139 / 5.7.57 Microsoft "client authentication disabled / not authenticated".
_AUTH_ENHANCED = frozenset({"5.7.8", "5.7.9", "5.7.11", "5.7.14", "5.7.139", "5.7.57", "4.7.8"})
_AUTH_WORDS = re.compile(
    r"authenticat|credentials|username and password|password not accepted|log ?in via|"
    r"must issue a starttls|application-specific password|smtpclientauthentication",
    re.I,
)
_THROTTLE_WORDS = re.compile(
    r"rate limit|at a rate|too many|quota|limit exceeded|exceeded the|throttl|"
    r"temporarily deferred|deferred due to|concurrent|unusual rate|unexpected volume|"
    r"sending limit|server busy|maximum sending rate|resources temporarily",
    re.I,
)
_SPAM_WORDS = re.compile(
    r"spam|unsolicited|policy|block ?list|blocklisted|blacklist|blocked|reputation|"
    r"dmarc|\bspf\b|dkim|unauthenticated|ptr record|reverse dns|banned|abuse|phish|"
    r"not accepted from this ip|access denied, banned|spamhaus|barracuda|content rejected|"
    r"security issue|suspicious|virus",
    re.I,
)
_UNKNOWN_USER_WORDS = re.compile(
    r"user unknown|unknown user|no such user|no such (mailbox|recipient)|does not exist|"
    r"doesn't exist|recipient not found|recipientnotfound|invalid recipient|"
    r"unknown recipient|mailbox unavailable|mailbox not found|address rejected|"
    r"account (is )?disabled|not a valid (mailbox|recipient)|no mailbox|unrouteable|"
    r"address not found|bad destination mailbox|suppression list|address blacklisted|"
    r"(doesn't|does not) have an? [\w.-]{0,40} ?account",
    re.I,
)
_GREYLIST_WORDS = re.compile(r"greylist|graylist|try again in", re.I)
_MAILBOX_FULL = frozenset({"5.2.2", "4.2.2"})
# Recipient domain without mail hosts or unknown, and Microsoft's directory rejection (5.4.1).
_UNDELIVERABLE = frozenset({"5.4.4", "5.4.310", "5.1.2", "5.4.1"})


def enhanced_code(reply: str) -> str | None:
    """The first RFC 3463 status code (e.g. '5.1.1') in a reply, or None."""
    match = _ENHANCED.search(reply or "")
    return ".".join(match.groups()) if match else None


def classify_reply(code: int | None, reply: str) -> ReplyClass:
    """Classifies one SMTP reply; `code` is the basic 3-digit code (None: no reply at all)."""
    text = reply or ""
    enhanced = enhanced_code(text)
    if code is None and enhanced is None:
        return ReplyClass.OTHER
    klass = enhanced[0] if enhanced else str(code)[0]
    subject = enhanced.split(".")[1] if enhanced else None

    if code in _AUTH_BASIC or (enhanced in _AUTH_ENHANCED and not _SPAM_WORDS.search(text)):
        # Yahoo answers 554 5.7.9 for policy rejections, so the code alone is not enough.
        return ReplyClass.AUTH
    if code == 454:
        # SES "454 Throttling failure"; a 454 about TLS or login is the account's set-up.
        return ReplyClass.AUTH if _AUTH_WORDS.search(text) else ReplyClass.THROTTLED
    if code == 421 and (subject == "7" or _THROTTLE_WORDS.search(text)):
        return ReplyClass.THROTTLED
    if klass == "4":
        if enhanced in _MAILBOX_FULL:
            return ReplyClass.SOFT_BOUNCE
        if subject in ("2", "3", "7") and _THROTTLE_WORDS.search(text):
            return ReplyClass.THROTTLED  # 450 4.2.1 recipient rate, 432 4.3.2 thread limit
        if _GREYLIST_WORDS.search(text):
            return ReplyClass.SOFT_BOUNCE
        if subject == "7" and _SPAM_WORDS.search(text) and code != 450:
            return ReplyClass.THROTTLED
        return ReplyClass.SOFT_BOUNCE
    if klass != "5":
        return ReplyClass.OTHER

    if enhanced in _MAILBOX_FULL:
        return ReplyClass.SOFT_BOUNCE
    if enhanced == "5.4.5" or (
        subject in ("2", "3") and _THROTTLE_WORDS.search(text) and "size" not in text.lower()
    ):
        # Gmail "550 5.4.5 Daily user sending limit exceeded", Outlook submission quota.
        return ReplyClass.THROTTLED
    if subject == "1" or enhanced in _UNDELIVERABLE or enhanced == "5.2.1":
        return ReplyClass.HARD_BOUNCE
    if subject == "7":
        if _AUTH_WORDS.search(text) and not _SPAM_WORDS.search(text):
            return ReplyClass.AUTH
        if _SPAM_WORDS.search(text) or enhanced in ("5.7.26", "5.7.25", "5.7.27", "5.7.28"):
            return ReplyClass.POLICY_SPAM
        if enhanced is not None and enhanced.startswith("5.7.") and len(enhanced) >= 7:
            # Microsoft's 5.7.5xx/6xx/7xx are reputation, banned-IP and tenant-block codes.
            detail = int(enhanced.split(".")[2])
            if 500 <= detail < 800:
                return ReplyClass.POLICY_SPAM
        return ReplyClass.OTHER
    if enhanced is None and _SPAM_WORDS.search(text):
        return ReplyClass.POLICY_SPAM
    if enhanced is None and _UNKNOWN_USER_WORDS.search(text):
        return ReplyClass.HARD_BOUNCE
    if enhanced is None and _THROTTLE_WORDS.search(text):
        return ReplyClass.THROTTLED
    if enhanced is not None and subject in ("0", "5", "6") and _SPAM_WORDS.search(text):
        return ReplyClass.POLICY_SPAM
    if enhanced is not None and subject == "0" and _UNKNOWN_USER_WORDS.search(text):
        return ReplyClass.HARD_BOUNCE
    return ReplyClass.OTHER
