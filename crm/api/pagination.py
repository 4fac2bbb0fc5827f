"""Cursor pagination: ``{"results", "next", "previous"}``, stable order, page_size <= 100."""

from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


def page_size_from(request, *, default: int = DEFAULT_PAGE_SIZE) -> int:
    """The ``page_size`` query parameter, validated: an integer from 1 to 100."""
    raw = request.query_params.get("page_size")
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError({"page_size": [f"Must be an integer from 1 to {MAX_PAGE_SIZE}."]})
    return size


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination newest first; views set ``ordering`` to a unique-ending order."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):
        return page_size_from(request, default=self.page_size)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from exc

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next", "previous"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
            },
        }
