"""Domain errors raised by services; the HTTP layer maps each to a status code."""

from __future__ import annotations


class DomainError(Exception):
    """Base of errors a caller can act on; `code` is machine-readable, the message human."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """The thing does not exist, or the caller may not see it (we never say which)."""

    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    """The caller may see the thing but not do this to it."""

    status_code = 403
    code = "forbidden"


class Unauthorized(DomainError):
    """No valid credentials."""

    status_code = 401
    code = "unauthorized"


class Conflict(DomainError):
    """The request clashes with existing state (a taken handle, say)."""

    status_code = 409
    code = "conflict"


class Invalid(DomainError):
    """The input is well-formed but not acceptable."""

    status_code = 422
    code = "invalid"


class TooLarge(DomainError):
    """The input is over a size limit."""

    status_code = 413
    code = "too_large"
