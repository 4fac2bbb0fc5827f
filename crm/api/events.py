"""``GET events/?after=<seq>``: the workspace's event log in ``seq`` order."""

from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ..selectors import event_list_after
from ..services.events import event_envelope
from .base import WorkspaceApi
from .pagination import page_size_from


class EventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    seq = serializers.IntegerField()
    type = serializers.CharField()
    workspace = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    data = serializers.DictField()


class EventPageOutputSerializer(serializers.Serializer):
    results = EventOutputSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class EventListApi(WorkspaceApi):
    """Events after ``after`` in commit order; follow ``next`` to keep reading.

    Each credential sees the event types its scopes allow (contact events need
    ``contacts:read``, conversation and message events ``conversations:read``).
    """

    required_scopes = {"GET": None}

    @extend_schema(
        operation_id="events_list",
        parameters=[
            OpenApiParameter("after", int, description="Return events with a larger seq."),
            OpenApiParameter("page_size", int, description="1 to 100, default 50."),
        ],
        responses=EventPageOutputSerializer,
        tags=["events"],
    )
    def get(self, request, workspace):
        raw_after = request.query_params.get("after") or "0"
        try:
            after = int(raw_after)
        except ValueError:
            after = -1
        if after < 0:
            raise ValidationError({"after": ["Must be a non-negative integer seq."]})
        limit = page_size_from(request)
        events = event_list_after(actor=self.actor, after=after, limit=limit + 1)
        has_more = len(events) > limit
        events = events[:limit]
        next_url = None
        if has_more:
            query = urlencode({"after": events[-1].seq, "page_size": limit})
            next_url = request.build_absolute_uri(f"{request.path}?{query}")
        return Response(
            {
                "results": [event_envelope(e, workspace_slug=self.workspace.slug) for e in events],
                "next": next_url,
                "previous": None,
            }
        )
