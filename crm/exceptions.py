"""Errors that services raise and the API renders in its one error format.

Each carries the HTTP status that fits, a stable snake_case ``code`` clients can branch on,
a message for a person, and optional ``details``.
"""

from typing import Any

from rest_framework.exceptions import APIException


class ApplicationError(APIException):
    status_code = 400
    default_code = "bad_request"
    default_detail = "The request cannot be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(detail=message or self.default_detail, code=code or self.default_code)
        self.error_code = code or self.default_code
        self.details = details or {}


class InvalidInput(ApplicationError):
    status_code = 400
    default_code = "validation_error"
    default_detail = "The request is invalid."


class NotFound(ApplicationError):
    status_code = 404
    default_code = "not_found"
    default_detail = "Not found."


class Forbidden(ApplicationError):
    status_code = 403
    default_code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class Conflict(ApplicationError):
    status_code = 409
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class PayloadTooLarge(ApplicationError):
    status_code = 413
    default_code = "request_too_large"
    default_detail = "The request body is too large."


class PolicyRefusal(ApplicationError):
    status_code = 422
    default_code = "policy_refusal"
    default_detail = "The platform's policy does not allow this."


class ServiceUnavailable(ApplicationError):
    status_code = 503
    default_code = "service_unavailable"
    default_detail = "A service Causerie depends on is unavailable; retry shortly."


class TooManyAttempts(ApplicationError):
    """Too many failed attempts from one client: 429 with ``Retry-After``."""

    status_code = 429
    default_code = "throttled"
    default_detail = "Too many attempts; retry later."

    def __init__(self, message: str | None = None, *, retry_after: int):
        super().__init__(message, details={"retry_after": retry_after})
        # Read by the error handler, which sets Retry-After, as for DRF's Throttled.
        self.wait = retry_after
