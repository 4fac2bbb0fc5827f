"""``GET events/?after=<seq>``: the workspace's event log in ``seq`` order.

With ``wait=<seconds>`` a reader that is up to date is answered as soon as an event it may
see is committed, or with an empty page after that long (long polling, for clients that
cannot keep a websocket open).
"""

import os
import threading
import time
from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from conversations.realtime import event_log_last_seq, events_visible_after, realtime_setting

from ..services.events import event_envelope
from .base import WorkspaceApi
from .pagination import page_size_from

# A waiting long poll holds a thread of the process (Django runs sync views in a thread
# pool under ASGI, sized by ASGI_THREADS). At most half of that pool waits at once; beyond
# it a poll is answered at once, like ``wait=0``, so that other requests never queue.
_POOL = int(os.environ.get("ASGI_THREADS") or min(32, (os.cpu_count() or 1) + 4))
_WAITING = threading.BoundedSemaphore(max(1, _POOL // 2))


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
    ``contacts:read``, conversation and message events ``conversations:read``), and only
    the conversations it may see (agents restricted to their teams).
    """

    required_scopes = {"GET": None}

    @extend_schema(
        operation_id="events_list",
        parameters=[
            OpenApiParameter("after", int, description="Return events with a larger seq."),
            OpenApiParameter("page_size", int, description="1 to 100, default 50."),
            OpenApiParameter(
                "wait",
                {"type": "integer", "minimum": 0, "maximum": 30},
                description="Long polling: when nothing is new, hold the request up to "
                "this many seconds (at most 30) until an event arrives. Default 0.",
            ),
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
        wait = self._wait_from(request)
        limit = page_size_from(request)
        page = events_visible_after(actor=self.actor, after=after, limit=limit)
        if wait and not page.events and not page.has_more and _WAITING.acquire(blocking=False):
            try:
                deadline = time.monotonic() + wait
                while not page.events and not page.has_more and time.monotonic() < deadline:
                    if _wait_for_log(
                        workspace_id=self.workspace.pk, beyond=page.next_after, until=deadline
                    ):
                        page = events_visible_after(
                            actor=self.actor, after=page.next_after, limit=limit
                        )
            finally:
                _WAITING.release()
        events = page.events
        next_url = None
        if page.has_more or (not events and page.next_after > after):
            # An empty page may still move the reader past events it may not see.
            query = urlencode({"after": page.next_after, "page_size": limit})
            next_url = request.build_absolute_uri(f"{request.path}?{query}")
        return Response(
            {
                "results": [event_envelope(e, workspace_slug=self.workspace.slug) for e in events],
                "next": next_url,
                "previous": None,
            }
        )

    @staticmethod
    def _wait_from(request) -> float:
        raw = request.query_params.get("wait") or "0"
        try:
            wait = int(raw)
        except ValueError:
            wait = -1
        longest = realtime_setting("CAUSERIE_EVENTS_LONG_POLL_MAX", 30)
        if not 0 <= wait <= longest:
            raise ValidationError({"wait": [f"Seconds, from 0 to {longest}."]})
        return float(wait)


def _wait_for_log(*, workspace_id, beyond: int, until: float) -> bool:
    """Sleep until the workspace's log passes ``beyond`` (True) or ``until`` (False).

    Polls the sequence row (one primary-key read) rather than listening to the channel
    layer: it works the same under WSGI and ASGI, in any process, with or without Redis.
    """
    delay = 0.05
    while True:
        if event_log_last_seq(workspace_id=workspace_id) > beyond:
            return True
        remaining = until - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.5)
