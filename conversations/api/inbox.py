"""The inbox: conversations, their messages, bulk changes."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from crm import scopes
from crm.api.base import WorkspaceApi
from crm.exceptions import InvalidInput
from crm.models import Team

from .. import selectors
from ..pagination import keyset_page
from ..representations import conversation_data, conversation_row_data, message_data
from ..services import messages as message_services
from ..services.conversations import (
    UNSET,
    ConversationChanges,
    conversation_update,
    conversations_bulk_update,
)
from .serializers import (
    BulkResultOutputSerializer,
    ConversationBulkInputSerializer,
    ConversationListQuerySerializer,
    ConversationOutputSerializer,
    ConversationPageOutputSerializer,
    ConversationUpdateInputSerializer,
    MessageCreateInputSerializer,
    MessageOutputSerializer,
    MessagePageOutputSerializer,
    MessageUpdateInputSerializer,
)

READ = scopes.CONVERSATIONS_READ
WRITE = scopes.CONVERSATIONS_WRITE
SEND = scopes.MESSAGES_SEND

LIST_PARAMETERS = [
    OpenApiParameter(
        "status", str, description="open, pending, snoozed, resolved; comma-separated."
    ),
    OpenApiParameter("assignee", str, description="A member id, `me` or `none`."),
    OpenApiParameter("team", str, description="A team id or `none`."),
    OpenApiParameter("label", str, description="A label id or name."),
    OpenApiParameter("platform", str, description="Platforms, comma-separated."),
    OpenApiParameter("brand_account", str, description="A brand account id."),
    OpenApiParameter("kind", str, description="direct, comment_thread, mention, email."),
    OpenApiParameter("priority", str, description="none, low, medium, high, urgent."),
    OpenApiParameter("contact", str, description="A contact id."),
    OpenApiParameter("q", str, description="Words searched in message text."),
    OpenApiParameter("updated_after", str, description="ISO 8601 time."),
    OpenApiParameter(
        "sort",
        str,
        enum=["waiting", "recent"],
        description="`waiting`: the customer waiting longest first (default for "
        "status=open); `recent`: latest activity first (default otherwise).",
    ),
    OpenApiParameter("cursor", str, description="From a previous page's next/previous link."),
    OpenApiParameter("page_size", int, description="1 to 100, default 50."),
]


def _changes_from(actor, data: dict) -> ConversationChanges:
    """Turn validated input into a change, resolving ids inside the actor's workspace."""
    changes = ConversationChanges()
    for key in ("status", "priority", "snoozed_until"):
        if key in data:
            setattr(changes, key, data[key])
    if "assignee" in data:
        changes.assignee = (
            None
            if data["assignee"] is None
            else selectors.assignable_member_get(actor=actor, member_id=data["assignee"])
        )
    if "team" in data:
        if data["team"] is None:
            changes.team = None
        else:
            team = Team.objects.filter(workspace=actor.workspace, pk=data["team"]).first()
            if team is None:
                raise InvalidInput("No such team.", details={"team": ["Unknown team."]})
            changes.team = team
    for key in ("labels", "add_labels", "remove_labels"):
        if key in data:
            wanted = {str(i) for i in data[key]}
            found = list(selectors.label_list(actor=actor).filter(pk__in=wanted))
            if len(found) != len(wanted):
                raise InvalidInput("No such label.", details={key: ["Unknown label id."]})
            setattr(changes, key, found)
    changes.mark_read = bool(data.get("read"))
    return changes


class ConversationListApi(WorkspaceApi):
    """The inbox, filtered; one fixed number of queries per page."""

    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="conversations_list",
        parameters=LIST_PARAMETERS,
        responses=ConversationPageOutputSerializer,
        tags=["conversations"],
    )
    def get(self, request, workspace):
        query = ConversationListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = dict(query.validated_data)
        sort = filters.pop("sort", None)
        rows = selectors.conversation_list(actor=self.actor, rows=True, **filters)
        field, descending = selectors.inbox_sort_for(status=filters.get("status"), sort=sort)
        page = keyset_page(
            request,
            rows,
            field=field,
            descending=descending,
            nullable=field == "waiting_since",
        )
        now = timezone.now()
        return Response(
            {
                "results": [
                    conversation_row_data(row, now=now)
                    for row in selectors.inbox_rows_complete(page.rows)
                ],
                "next": page.next,
                "previous": page.previous,
            }
        )


class ConversationDetailApi(WorkspaceApi):
    required_scopes = {"GET": READ, "PATCH": WRITE}

    @extend_schema(
        operation_id="conversations_retrieve",
        responses=ConversationOutputSerializer,
        tags=["conversations"],
    )
    def get(self, request, workspace, conversation_id):
        conversation = selectors.conversation_get(actor=self.actor, conversation_id=conversation_id)
        return Response(conversation_data(conversation))

    @extend_schema(
        operation_id="conversations_update",
        request=ConversationUpdateInputSerializer,
        responses=ConversationOutputSerializer,
        tags=["conversations"],
    )
    def patch(self, request, workspace, conversation_id):
        conversation = selectors.conversation_get(actor=self.actor, conversation_id=conversation_id)
        data = ConversationUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = _changes_from(self.actor, data.validated_data)
        conversation_update(actor=self.actor, conversation=conversation, changes=changes)
        # Read back without the visibility rule: an agent who hands a conversation to
        # another team sees the result of its own change, not a 404.
        (conversation,) = selectors.conversations_after_change(
            actor=self.actor, conversation_ids=[conversation.pk]
        )
        return Response(conversation_data(conversation))


class ConversationBulkApi(WorkspaceApi):
    """One change (status, priority, assignee, team, labels, snooze) to many conversations."""

    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="conversations_bulk",
        request=ConversationBulkInputSerializer,
        responses=BulkResultOutputSerializer,
        tags=["conversations"],
    )
    def post(self, request, workspace):
        data = ConversationBulkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = _changes_from(self.actor, data.validated_data["changes"])
        if all(
            getattr(changes, key) is UNSET
            for key in ("status", "priority", "assignee", "team", "labels", "snoozed_until")
        ) and not (changes.add_labels or changes.remove_labels or changes.mark_read):
            raise InvalidInput("The change is empty.", details={"changes": ["Nothing to change."]})
        updated = conversations_bulk_update(
            actor=self.actor, conversation_ids=data.validated_data["ids"], changes=changes
        )
        rows = selectors.conversations_after_change(
            actor=self.actor, conversation_ids=[c.pk for c in updated]
        )
        return Response({"updated": len(updated), "results": [conversation_data(c) for c in rows]})


class MessageListApi(WorkspaceApi):
    """A conversation's messages and private notes, oldest first; replies and notes."""

    required_scopes = {"GET": READ, "POST": SEND}

    @extend_schema(
        operation_id="conversation_messages_list",
        parameters=[
            OpenApiParameter("cursor", str, description="From a previous page's link."),
            OpenApiParameter("page_size", int, description="1 to 100, default 50."),
        ],
        responses=MessagePageOutputSerializer,
        tags=["conversations"],
    )
    def get(self, request, workspace, conversation_id):
        conversation = selectors.conversation_get(
            actor=self.actor, conversation_id=conversation_id, with_labels=False
        )
        queryset = selectors.message_list(actor=self.actor, conversation=conversation)
        page = keyset_page(request, queryset, field="created_at", descending=False)
        show_deleted = selectors.actor_is_admin(self.actor)
        return Response(
            {
                "results": [
                    message_data(m, show_deleted=show_deleted)
                    for m in selectors.messages_complete(page.rows)
                ],
                "next": page.next,
                "previous": page.previous,
            }
        )

    @extend_schema(
        operation_id="conversation_messages_create",
        request=MessageCreateInputSerializer,
        responses={201: MessageOutputSerializer, 202: MessageOutputSerializer},
        tags=["conversations"],
        description="A reply is stored `queued` and answered 202 (the adapters send it); "
        "a private note is answered 201. A closed reply window answers 422 "
        "`reply_window_closed`. A reply written while other members were typing in the "
        'conversation carries `collision: {"typing": [member ids]}`; with the workspace\'s '
        "assignee lock on, a reply to a conversation assigned to someone else answers 409 "
        "`assignee_lock`.",
    )
    def post(self, request, workspace, conversation_id):
        conversation = selectors.conversation_get(
            actor=self.actor, conversation_id=conversation_id, with_labels=False
        )
        data = MessageCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        text = values["text"]
        if values["canned_response"] and not text.strip():
            canned = selectors.canned_response_get(
                actor=self.actor, canned_response_id=values["canned_response"]
            )
            text = message_services.canned_render(
                canned.text, conversation=conversation, actor=self.actor
            )
        message = message_services.message_send(
            actor=self.actor,
            conversation=conversation,
            text=text,
            private=values["private"],
            parent_id=values["parent"],
            attachments=values["attachments"],
        )
        collision = getattr(message, "collision", None)
        answer = status.HTTP_201_CREATED if message.private else status.HTTP_202_ACCEPTED
        # The row just written: nothing has reacted to it or edited it yet.
        body = message_data(message, reactions=(), edits=())
        if collision:
            # Another member was typing here: the reply went out, and the client is told.
            body["collision"] = collision
        return Response(body, status=answer)


class MessageDetailApi(WorkspaceApi):
    """One message; members edit or delete their own private notes."""

    required_scopes = {"GET": READ, "PATCH": SEND, "DELETE": SEND}

    def _message(self, conversation_id, message_id):
        conversation = selectors.conversation_get(
            actor=self.actor, conversation_id=conversation_id, with_labels=False
        )
        return selectors.message_get(
            actor=self.actor, conversation=conversation, message_id=message_id
        )

    def _answer(self, message):
        message = self._message(message.conversation_id, message.pk)
        return Response(message_data(message, show_deleted=selectors.actor_is_admin(self.actor)))

    @extend_schema(
        operation_id="conversation_messages_retrieve",
        responses=MessageOutputSerializer,
        tags=["conversations"],
    )
    def get(self, request, workspace, conversation_id, message_id):
        return self._answer(self._message(conversation_id, message_id))

    @extend_schema(
        operation_id="conversation_messages_update",
        request=MessageUpdateInputSerializer,
        responses=MessageOutputSerializer,
        tags=["conversations"],
    )
    def patch(self, request, workspace, conversation_id, message_id):
        message = self._message(conversation_id, message_id)
        data = MessageUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message_services.message_edit(
            message=message, text=data.validated_data["text"], actor=self.actor
        )
        return self._answer(message)

    @extend_schema(
        operation_id="conversation_messages_delete",
        responses=MessageOutputSerializer,
        tags=["conversations"],
    )
    def delete(self, request, workspace, conversation_id, message_id):
        message = self._message(conversation_id, message_id)
        message_services.message_delete(message=message, actor=self.actor)
        return self._answer(message)
