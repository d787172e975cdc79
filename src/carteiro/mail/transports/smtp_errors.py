"""How SMTP failures map to TemporaryFailure or PermanentFailure, on every code path."""

from __future__ import annotations

import ssl

from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPNotSupported,
    SMTPRecipientsRefused,
    SMTPResponseException,
)

from carteiro.mail.transports.base import DeliveryError, PermanentFailure, TemporaryFailure


def ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind `exc`, if any; aiosmtplib wraps some and passes others through."""
    current: BaseException | None = exc
    for _ in range(10):  # explicit causes only; a bound guards against a cycle
        if current is None:
            break
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__
    return None


def describe_ssl(err: ssl.SSLError) -> str:
    if isinstance(err, ssl.SSLCertVerificationError) and err.verify_message:
        return f"certificate verification failed: {err.verify_message}"
    return err.reason or str(err)


def classify_open(
    exc: Exception, phase: str, duration: float, where: str, timeout: float
) -> DeliveryError | None:
    """Setup failures are about the account or server, never the message: all temporary."""
    common = classify_transport(exc, duration, where, timeout)
    if common is not None:
        return common
    code = exc.code if isinstance(exc, SMTPResponseException) else None
    detail = f"{exc.code} {exc.message}" if isinstance(exc, SMTPResponseException) else str(exc)
    if phase == "auth" or isinstance(exc, SMTPAuthenticationError):
        reply = f"authentication failed: {detail}"
        return TemporaryFailure(reply, code=code, error_type="auth", duration=duration)
    if phase == "tls":
        reply = f"STARTTLS with {where} failed: {detail}"
        return TemporaryFailure(reply, code=code, error_type="tls", duration=duration)
    if isinstance(exc, SMTPException):
        reply = f"{where} refused the session: {detail}"
        return TemporaryFailure(reply, code=code, error_type="connection", duration=duration)
    return None


def classify_send(
    exc: Exception, duration: float, where: str, timeout: float
) -> DeliveryError | None:
    """Failures of one transaction: the reply decides between temporary and permanent."""
    common = classify_transport(exc, duration, where, timeout)
    if common is not None:
        return common
    if isinstance(exc, SMTPRecipientsRefused):
        refusals = [(r.recipient, r.code, r.message) for r in exc.recipients]
        reply = "all recipients refused: " + "; ".join(
            f"{addr}: {code} {message}" for addr, code, message in refusals
        )
        temporary = [code for _, code, _ in refusals if 400 <= code < 500]
        if temporary:
            return TemporaryFailure(
                reply, code=temporary[0], error_type="smtp_4xx", duration=duration
            )
        code = refusals[0][1] if refusals else None
        return PermanentFailure(reply, code=code, error_type="smtp_5xx", duration=duration)
    if isinstance(exc, SMTPResponseException):
        if 400 <= exc.code < 500:
            kind: type[DeliveryError] = TemporaryFailure
            error_type = "smtp_4xx"
        elif exc.code >= 500:
            kind, error_type = PermanentFailure, "smtp_5xx"
        else:
            # An unexpected non-error code means a confused session, not a verdict.
            kind, error_type = TemporaryFailure, "connection"
        return kind(exc.message, code=exc.code, error_type=error_type, duration=duration)
    if isinstance(exc, (SMTPNotSupported, ValueError)):
        # Addresses the server cannot take (bad syntax, non-ASCII without SMTPUTF8)
        # will never go through, however often they are retried.
        reply = f"message cannot be sent: {exc}"
        return PermanentFailure(reply, error_type="smtp_5xx", duration=duration)
    if isinstance(exc, SMTPException):
        return TemporaryFailure(str(exc), error_type="connection", duration=duration)
    return None


def classify_transport(
    exc: Exception, duration: float, where: str, timeout: float
) -> DeliveryError | None:
    """Timeouts, TLS and socket trouble, in whatever phase they happen."""
    if isinstance(exc, TimeoutError):
        reply = f"timed out talking to {where} after {timeout:g}s"
        return TemporaryFailure(reply, error_type="timeout", duration=duration)
    tls_error = ssl_error(exc)
    if tls_error is not None:
        reply = f"TLS with {where} failed: {describe_ssl(tls_error)}"
        return TemporaryFailure(reply, error_type="tls", duration=duration)
    if isinstance(exc, (OSError, ConnectionError)):
        reply = f"connection to {where} failed: {exc}"
        return TemporaryFailure(reply, error_type="connection", duration=duration)
    return None
