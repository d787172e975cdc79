"""Domain exceptions that every interface maps to a status code or a one-line message."""

from __future__ import annotations


class CarteiroError(Exception):
    """Base of every error a user can be shown; `status` is the HTTP status it maps to."""

    status = 400
    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidInput(CarteiroError):
    """The request is well-formed but a value is wrong; `field` names it."""

    status = 422
    code = "invalid"


class NotFound(CarteiroError):
    """The object does not exist, or belongs to another tenant (never distinguished)."""

    status = 404
    code = "not_found"


class Conflict(CarteiroError):
    """The object's current state does not allow the operation."""

    status = 409
    code = "conflict"


class TooLarge(CarteiroError):
    """A body, attachment or batch is bigger than allowed."""

    status = 413
    code = "too_large"


class Forbidden(CarteiroError):
    """The key is valid but lacks a scope or a recipient is outside its allow-list."""

    status = 403
    code = "forbidden"


class Unauthorized(CarteiroError):
    """No key, or a key that is unknown or revoked."""

    status = 401
    code = "unauthorized"


class RateLimited(CarteiroError):
    """The key created too many messages in the rolling window."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(CarteiroError):
    """A dependency (database, SMTP server) does not answer."""

    status = 503
    code = "unavailable"
