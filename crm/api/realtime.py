"""``POST realtime/tickets/``: a single-use ticket for opening the inbox websocket."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from ..services.realtime_tickets import realtime_ticket_issue
from .base import WorkspaceApi


class RealtimeTicketOutputSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    expires_at = serializers.DateTimeField()


class RealtimeTicketApi(WorkspaceApi):
    """A ticket for ``/ws/v1/inbox/?ticket=...``: single use, valid 60 s.

    Browsers cannot send an ``Authorization`` header with a websocket; they ask for a
    ticket with their token and open the socket with it. The ticket acts as the
    credential that asked for it, in this workspace only.
    """

    required_scopes = {"POST": None}

    @extend_schema(
        operation_id="realtime_tickets_create",
        request=None,
        responses={201: RealtimeTicketOutputSerializer},
        tags=["realtime"],
    )
    def post(self, request, workspace):
        issued = realtime_ticket_issue(actor=self.actor)
        return Response(
            RealtimeTicketOutputSerializer(
                {"ticket": issued.ticket, "expires_at": issued.expires_at}
            ).data,
            status=status.HTTP_201_CREATED,
        )
