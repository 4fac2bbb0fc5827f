"""The API's one error format, for every error the service can answer.

``{"error": {"code": "<snake_case>", "message": "<for a person>", "details": {...}}}``
DRF's exceptions, Django's own (404, permission, validation, oversized body) and
unexpected failures all leave through here.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response

from ..exceptions import ApplicationError

logger = logging.getLogger(__name__)

DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict:
    """The error document every non-2xx API answer carries."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _message_of(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _message_of(detail[0])
    if isinstance(detail, dict) and detail:
        return _message_of(next(iter(detail.values())))
    return str(detail)


def _drf_error(exc: exceptions.APIException) -> tuple[str, str, dict]:
    if isinstance(exc, ApplicationError):
        return exc.error_code, str(exc.detail), exc.details
    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), None)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            field, first = next(iter(detail.items()), ("", ""))
            field_label = "" if field == "non_field_errors" else f"{field}: "
            message = f"Invalid input. {field_label}{_message_of(first)}"
            return "validation_error", message, detail
        return "validation_error", _message_of(detail), {"non_field_errors": detail}
    if isinstance(exc, exceptions.Throttled):
        return "throttled", "Too many requests; slow down.", {"retry_after": exc.wait}
    return code or "error", _message_of(exc.detail), {}


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's exception handler: every error in the one format, never an HTML page."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", "The request body is too large."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )

    if isinstance(exc, exceptions.APIException):
        code, message, details = _drf_error(exc)
        headers: dict[str, str] = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        return Response(error_body(code, message, details), status=exc.status_code, headers=headers)

    unavailable = None
    if isinstance(exc, (OperationalError, InterfaceError)):
        unavailable = "The database is unavailable; retry shortly."
    elif isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        # Redis (cache, throttling, realtime) restarting is a passing outage too: say when
        # to try again (writes carry an Idempotency-Key) rather than report a server error.
        unavailable = "A backing service is unavailable; retry shortly."
    if unavailable:
        logger.exception("service unavailable")
        return Response(
            error_body("service_unavailable", unavailable),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
    else:
        logger.exception("unhandled error in %s", context.get("view"))
    return Response(
        error_body("server_error", "An unexpected error occurred; it has been logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def json_error_response(status_code: int, code: str, message: str) -> JsonResponse:
    """An error in the one format from plain Django views (404/500 handlers, CSRF)."""
    return JsonResponse(error_body(code, message), status=status_code)


def service_unavailable_response(message: str = "Retry later.", *, retry_after: int = 5):
    """503 in the one format with ``Retry-After``: a backing service is briefly away, the
    client (or the platform redelivering a webhook) should try again then."""
    response = json_error_response(503, "service_unavailable", message)
    response["Retry-After"] = str(retry_after)
    return response


def handler400(request, exception=None):
    return json_error_response(400, "bad_request", "The request is malformed.")


def handler403(request, exception=None):
    return json_error_response(403, "permission_denied", "You may not do this.")


def handler404(request, exception=None):
    return json_error_response(404, "not_found", "Not found.")


def handler500(request):
    return json_error_response(500, "server_error", "An unexpected error occurred.")


def csrf_failure(request, reason=""):
    return json_error_response(403, "csrf_failed", f"CSRF check failed: {reason}")
