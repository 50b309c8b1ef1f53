"""Domain errors raised by services; the HTTP layer maps each to a status code."""

from __future__ import annotations

import math


class DomainError(Exception):
    """Base of errors a caller can act on; `code` is machine-readable, the message human."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def headers(self) -> dict[str, str] | None:
        """HTTP headers the answer carries besides the error body (none by default)."""
        return None


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


class RateLimited(DomainError):
    """Too many attempts (429), or too much work already waiting (503): try again after
    `retry_after_s`, which the HTTP layer sends as `Retry-After`."""

    status_code = 429
    code = "rate_limited"

    def __init__(
        self,
        message: str,
        retry_after_s: float,
        code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, code)
        # Whole seconds, rounded up, and never 0 (which would invite an instant retry).
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        if status_code is not None:
            self.status_code = status_code

    def headers(self) -> dict[str, str]:
        """`Retry-After`, in seconds."""
        return {"Retry-After": str(self.retry_after_s)}
