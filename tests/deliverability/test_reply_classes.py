"""SMTP reply classes from real providers' replies (Gmail, Outlook, SES, Postfix, Yahoo, …)."""

from __future__ import annotations

import pytest

from carteiro.mail.replies import ReplyClass, classify_reply, enhanced_code

H, S, T, A, P, X = (
    ReplyClass.HARD_BOUNCE,
    ReplyClass.SOFT_BOUNCE,
    ReplyClass.THROTTLED,
    ReplyClass.AUTH,
    ReplyClass.POLICY_SPAM,
    ReplyClass.OTHER,
)

GMAIL = [
    (
        550,
        "5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. Learn "
        "more at https://support.google.com/mail/?p=NoSuchUser d2-20020a05600c si12 - gsmtp",
        H,
    ),
    (
        550,
        "5.2.1 The email account that you tried to reach is disabled. "
        "https://support.google.com/mail/?p=DisabledUser",
        H,
    ),
    (
        552,
        "5.2.2 The email account that you tried to reach is over quota. Please direct the "
        "recipient to https://support.google.com/mail/?p=OverQuotaPerm",
        S,
    ),
    (
        452,
        "4.2.2 The email account that you tried to reach is over quota. Please direct the "
        "recipient to https://support.google.com/mail/?p=OverQuotaTemp",
        S,
    ),
    (
        450,
        "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
        "additional messages from being delivered. Please resend your message at a later time.",
        T,
    ),
    (
        421,
        "4.7.0 [203.0.113.5      15] Our system has detected an unusual rate of unsolicited "
        "mail originating from your IP address. To protect our users from spam, mail sent from "
        "your IP address has been temporarily rate limited.",
        T,
    ),
    (421, "4.7.28 Gmail has detected an unusual rate of unsolicited mail from your domain.", T),
    (421, "4.7.26 This mail has been rate limited because it is unauthenticated.", T),
    (
        550,
        "5.7.1 [203.0.113.5] Our system has detected that this message is likely unsolicited "
        "mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
        P,
    ),
    (
        550,
        "5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail "
        "requires all senders to authenticate with either SPF or DKIM.",
        P,
    ),
    (
        550,
        "5.7.25 [203.0.113.5] The IP address sending this message does not have a PTR "
        "record setup, or the corresponding forward DNS entry does not point to the sending IP.",
        P,
    ),
    (
        552,
        "5.7.0 This message was blocked because its content presents a potential security issue.",
        P,
    ),
    (
        535,
        "5.7.8 Username and Password not accepted. For more information, go to "
        "https://support.google.com/mail/?p=BadCredentials",
        A,
    ),
    (
        534,
        "5.7.9 Application-specific password required. Learn more at "
        "https://support.google.com/mail/?p=InvalidSecondFactor",
        A,
    ),
    (
        534,
        "5.7.14 <https://accounts.google.com/signin/continue?sarp=1> Please log in via your "
        "web browser and then try again.",
        A,
    ),
    (
        530,
        "5.7.0 Authentication Required. Learn more at "
        "https://support.google.com/mail/?p=WantAuthError",
        A,
    ),
    (
        550,
        "5.4.5 Daily user sending limit exceeded. For more information on Gmail sending "
        "limits go to https://support.google.com/a/answer/166852",
        T,
    ),
    (454, "4.7.0 Too many login attempts, please try again later.", T),
    (552, "5.3.4 Message size exceeds fixed limit", X),
    (451, "4.3.0 Mail server temporarily rejected message.", S),
    (421, "4.3.0 Temporary System Problem.  Try again later (10).", S),
]

OUTLOOK = [
    (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", H),
    (550, "5.1.1 RESOLVER.ADR.RecipNotFound; not found", H),
    (
        550,
        "5.4.1 Recipient address rejected: Access denied. For more information see "
        "https://aka.ms/EXOSmtpErrors [AM0PR01MB0001.eurprd01.prod.exchangelabs.com]",
        H,
    ),
    (535, "5.7.3 Authentication unsuccessful [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]", A),
    (
        535,
        "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
        "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
        A,
    ),
    (530, "5.7.57 Client not authenticated to send mail. Error: 535 5.7.139", A),
    (550, "5.7.57 Client was not authenticated to send anonymous mail during MAIL FROM", A),
    (
        554,
        "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to "
        "process message due to a permanent exception with message [BeginDiagnosticData]",
        T,
    ),
    (550, "5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.", P),
    (
        550,
        "5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your "
        "Internet service provider since part of their network is on our block list (S3150).",
        P,
    ),
    (550, "5.7.606 Access denied, banned sending IP [203.0.113.5].", P),
    (550, "5.7.520 Access denied, Your organization does not allow external forwarding.", P),
    (432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", T),
    (
        421,
        "4.3.2 The maximum number of concurrent server connections has exceeded a limit, "
        "closing transmission channel",
        T,
    ),
    (451, "4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77714)", T),
    (
        451,
        "4.7.650 The mail server [203.0.113.5] has been temporarily rate limited due to IP "
        "reputation.",
        T,
    ),
    (
        554,
        "5.6.211 Invalid MIME Content: Single text value size (32004) exceeded allowed "
        "maximum (32000)",
        X,
    ),
]

SES = [
    (454, "Throttling failure: Maximum sending rate exceeded.", T),
    (454, "Throttling failure: Daily message quota exceeded.", T),
    (454, "Temporary service failure.", T),
    (454, "4.7.0 Temporary authentication failure", A),
    (535, "Authentication Credentials Invalid", A),
    (530, "Must issue a STARTTLS command first", A),
    (
        554,
        "Message rejected: Email address is not verified. The following identities failed "
        "the check in region US-EAST-1: sender@example.com",
        X,
    ),
    (554, "Transaction failed: Local address contains control or whitespace", X),
    (550, "5.1.1 user unknown", H),
    (421, "Timeout waiting for data from client.", S),
]

POSTFIX = [
    (
        550,
        "5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual "
        "mailbox table",
        H,
    ),
    (550, "5.1.2 <x@nonexistent.invalid>: Recipient address rejected: Domain not found", H),
    (
        554,
        "5.4.4 <x@example.invalid>: Host or domain name not found. Name service error for "
        "name=example.invalid type=A: Host not found",
        H,
    ),
    (554, "5.7.1 <x@example.org>: Relay access denied", X),
    (
        553,
        "5.7.1 <sender@example.com>: Sender address rejected: not owned by user user@example.com",
        X,
    ),
    (
        550,
        "5.7.1 Service unavailable; Client host [203.0.113.5] blocked using "
        "zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.5",
        P,
    ),
    (550, "5.7.1 Message rejected due to local policy", P),
    (
        450,
        "4.7.1 <x@example.org>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.org.html",
        S,
    ),
    (451, "4.7.1 Service unavailable - try again later", S),
    (421, "4.7.0 mail.example.org Error: too many connections from 203.0.113.5", T),
    (452, "4.3.1 Insufficient system storage", S),
    (552, "5.2.2 <x@example.org>: Recipient address rejected: Mailbox full", S),
    (504, "5.5.2 <foo>: Sender address rejected: need fully-qualified address", X),
    (550, "5.0.0 <x@example.org>... User unknown", H),
]

OTHERS = [
    (
        554,
        "5.7.9 Message not accepted for policy reasons. See "
        "https://help.yahoo.com/kb/postmaster/SLN7253.html",
        P,
    ),
    (
        421,
        "4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected "
        "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        T,
    ),
    (
        554,
        "delivery error: dd This user doesn't have a yahoo.com account (nobody@yahoo.com) [0] "
        "- mta1234.mail.gq1.yahoo.com",
        H,
    ),
    (
        553,
        "5.7.1 [BL21] Connections will not be accepted from 203.0.113.5, because the ip is "
        "in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
        P,
    ),
    (550, "Requested action not taken: mailbox unavailable", H),
    (550, "Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550", H),
    (
        550,
        "Rejected by header based Anti-Spoofing policy: x@example.com - "
        "https://community.mimecast.com/docs/DOC-1369#550",
        P,
    ),
    (550, "5.7.1 Email rejected per DMARC policy for example.com", P),
    (554, "5.7.0 Reject, id=12345 - spam", P),
    (421, "Service not available, closing transmission channel", S),
    (553, "Relaying disallowed", X),
    (None, "Connection refused", X),
    (None, "", X),
    (250, "2.0.0 OK", X),
]


@pytest.mark.parametrize(("code", "reply", "expected"), GMAIL, ids=lambda v: str(v)[:30])
def test_gmail(code: int | None, reply: str, expected: ReplyClass) -> None:
    assert classify_reply(code, reply) == expected


@pytest.mark.parametrize(("code", "reply", "expected"), OUTLOOK, ids=lambda v: str(v)[:30])
def test_outlook(code: int | None, reply: str, expected: ReplyClass) -> None:
    assert classify_reply(code, reply) == expected


@pytest.mark.parametrize(("code", "reply", "expected"), SES, ids=lambda v: str(v)[:30])
def test_ses(code: int | None, reply: str, expected: ReplyClass) -> None:
    assert classify_reply(code, reply) == expected


@pytest.mark.parametrize(("code", "reply", "expected"), POSTFIX, ids=lambda v: str(v)[:30])
def test_postfix(code: int | None, reply: str, expected: ReplyClass) -> None:
    assert classify_reply(code, reply) == expected


@pytest.mark.parametrize(("code", "reply", "expected"), OTHERS, ids=lambda v: str(v)[:30])
def test_other_providers(code: int | None, reply: str, expected: ReplyClass) -> None:
    assert classify_reply(code, reply) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("5.1.1 user unknown", "5.1.1"),
        ("550-5.7.26 first line\n550 5.7.26 second line", "5.7.26"),
        ("5.7.139 Authentication unsuccessful", "5.7.139"),
        ("version 10.5.1.2 of the server", None),
        ("no code here", None),
        ("", None),
    ],
)
def test_enhanced_code(reply: str, expected: str | None) -> None:
    assert enhanced_code(reply) == expected


def test_classes_are_plain_strings() -> None:
    # Stored in events and webhook payloads as their value.
    assert ReplyClass.HARD_BOUNCE == "hard_bounce"
    assert {c.value for c in ReplyClass} == {
        "hard_bounce",
        "soft_bounce",
        "throttled",
        "auth",
        "policy_spam",
        "other",
    }
