"""OpenAPI generation: every operation documents its scope and its error responses."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "crm.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A workspace API key (`ck_...`, limited to its scopes) or a member's "
            "personal token (`pt_...`, with the scopes of the member's role).",
        }


class CsrfSessionScheme(SessionScheme):
    """Session cookie of a signed-in member (browser clients); writes need ``X-CSRFToken``."""

    target_class = "crm.authentication.CsrfSessionAuthentication"

    def get_security_definition(self, auto_schema):
        return {
            **super().get_security_definition(auto_schema),
            "description": "A member's browser session, from signing in at `/console/login/` "
            "(the agent console), with the scopes of the member's role. Writes (POST, PUT, "
            "PATCH, DELETE) also need the `X-CSRFToken` header with the value of the "
            "`csrftoken` cookie; without it they answer 403 `csrf_failed`. Members only: "
            "API keys have no session.",
        }


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable snake_case code clients can branch on.")
    message = serializers.CharField(help_text="What went wrong, for a person.")
    details = serializers.DictField(help_text="Field errors or other specifics.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_RESPONSES = {
    "400": "Invalid input (`validation_error`, `parse_error`).",
    "401": "Missing or invalid credential (`not_authenticated`, `authentication_failed`).",
    "403": "The credential lacks the scope or role (`permission_denied`), or a session "
    "write lacks its CSRF token (`csrf_failed`).",
    "404": "No such object in this workspace (`not_found`).",
    "409": "Conflicts with the current state or a reused Idempotency-Key.",
    "429": "Rate limited (`throttled`); see `Retry-After`.",
}


class CauserieAutoSchema(AutoSchema):
    """Adds the required scope and the standard error responses to each operation."""

    def required_scope(self) -> str | None:
        scopes = getattr(self.view, "required_scopes", None) or {}
        return scopes.get(self.method)

    def get_operation(self, *args, **kwargs):
        # Added here rather than in get_description: ``extend_schema(description=...)``
        # replaces get_description, which would drop the scope from those operations.
        operation = super().get_operation(*args, **kwargs)
        scope = self.required_scope()
        if operation is not None and scope:
            description = operation.get("description") or ""
            operation["description"] = f"{description}\n\nRequired scope: `{scope}`.".strip()
        return operation

    def _get_paginator(self):
        # Views are plain APIViews that page with ``paginated_response``; without this the
        # schema would describe their lists as bare arrays instead of the list envelope.
        paginator = super()._get_paginator()
        if paginator is None and self.method == "GET":
            from .pagination import CursorPagination

            return CursorPagination()
        return paginator

    def get_auth(self):
        auth = super().get_auth()
        scope = self.required_scope()
        if scope:
            auth = [{"bearerAuth": [scope]} if "bearerAuth" in a else a for a in auth]
        return auth

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        public = getattr(self.view, "permission_classes", None) == []
        for status_code, description in ERROR_RESPONSES.items():
            if public and status_code in ("401", "403"):
                continue
            if status_code not in responses:
                responses[status_code] = self._get_response_for_code(
                    OpenApiResponse(response=ErrorSerializer, description=description),
                    status_code,
                )
        return responses
