"""Labels and canned responses (CRUD), inbox settings and team assignment settings."""

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from crm import scopes
from crm.api.base import WorkspaceApi
from crm.exceptions import InvalidInput
from crm.models import Workspace
from crm.process_cache import remembered_forget
from crm.selectors import team_get
from crm.services.audit import audit_record
from crm.times import iso

from .. import selectors
from ..models import CannedResponse, Label
from ..services import library
from ..services.messages import canned_render
from ..sla import business_hours_validate
from .serializers import (
    CannedResponseCreateInputSerializer,
    CannedResponseOutputSerializer,
    CannedResponseUpdateInputSerializer,
    InboxSettingsOutputSerializer,
    InboxSettingsUpdateInputSerializer,
    LabelCreateInputSerializer,
    LabelOutputSerializer,
    LabelUpdateInputSerializer,
    TeamAssignmentOutputSerializer,
    TeamAssignmentUpdateInputSerializer,
)

READ = scopes.CONVERSATIONS_READ
WRITE = scopes.CONVERSATIONS_WRITE
SEND = scopes.MESSAGES_SEND
ADMIN = scopes.ADMIN


def label_data(label: Label) -> dict:
    return {
        "id": str(label.pk),
        "name": label.name,
        "color": label.color,
        "description": label.description,
        "created_at": iso(label.created_at),
        "updated_at": iso(label.updated_at),
    }


def canned_data(canned: CannedResponse, rendered: str | None = None) -> dict:
    return {
        "id": str(canned.pk),
        "name": canned.name,
        "text": canned.text,
        "rendered": rendered,
        "created_by": str(canned.created_by_id) if canned.created_by_id else None,
        "created_at": iso(canned.created_at),
        "updated_at": iso(canned.updated_at),
    }


class LabelListApi(WorkspaceApi):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="labels_list", responses=LabelOutputSerializer(many=True), tags=["labels"]
    )
    def get(self, request, workspace):
        return self.paginated_response(
            queryset=selectors.label_list(actor=self.actor),
            serializer_class=LabelOutputSerializer,
            ordering=("name",),
        )

    @extend_schema(
        operation_id="labels_create",
        request=LabelCreateInputSerializer,
        responses={201: LabelOutputSerializer},
        tags=["labels"],
    )
    def post(self, request, workspace):
        data = LabelCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = library.label_create(actor=self.actor, **data.validated_data)
        return Response(label_data(label), status=status.HTTP_201_CREATED)


class LabelDetailApi(WorkspaceApi):
    required_scopes = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(operation_id="labels_retrieve", responses=LabelOutputSerializer, tags=["labels"])
    def get(self, request, workspace, label_id):
        return Response(label_data(selectors.label_get(actor=self.actor, label_id=label_id)))

    @extend_schema(
        operation_id="labels_update",
        request=LabelUpdateInputSerializer,
        responses=LabelOutputSerializer,
        tags=["labels"],
    )
    def patch(self, request, workspace, label_id):
        label = selectors.label_get(actor=self.actor, label_id=label_id)
        data = LabelUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = library.label_update(actor=self.actor, label=label, **data.validated_data)
        return Response(label_data(label))

    @extend_schema(operation_id="labels_delete", responses={204: None}, tags=["labels"])
    def delete(self, request, workspace, label_id):
        label = selectors.label_get(actor=self.actor, label_id=label_id)
        library.label_delete(actor=self.actor, label=label)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CannedResponseListApi(WorkspaceApi):
    required_scopes = {"GET": READ, "POST": SEND}

    @extend_schema(
        operation_id="canned_responses_list",
        parameters=[
            OpenApiParameter(
                "conversation",
                str,
                description="Fill each response's placeholders for this conversation.",
            )
        ],
        responses=CannedResponseOutputSerializer(many=True),
        tags=["canned-responses"],
    )
    def get(self, request, workspace):
        conversation = None
        if request.query_params.get("conversation"):
            conversation = selectors.conversation_get(
                actor=self.actor, conversation_id=request.query_params["conversation"]
            )
        return self.paginated_response(
            queryset=selectors.canned_response_list(actor=self.actor),
            serializer_class=_CannedListSerializer,
            ordering=("name",),
            context={"conversation": conversation, "actor": self.actor},
        )

    @extend_schema(
        operation_id="canned_responses_create",
        request=CannedResponseCreateInputSerializer,
        responses={201: CannedResponseOutputSerializer},
        tags=["canned-responses"],
    )
    def post(self, request, workspace):
        data = CannedResponseCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        canned = library.canned_response_create(actor=self.actor, **data.validated_data)
        return Response(canned_data(canned), status=status.HTTP_201_CREATED)


class _CannedListSerializer(CannedResponseOutputSerializer):
    """Renders placeholders for the conversation in the context, if any."""

    def to_representation(self, canned):
        conversation = self.context.get("conversation")
        rendered = None
        if conversation is not None:
            rendered = canned_render(
                canned.text, conversation=conversation, actor=self.context["actor"]
            )
        return canned_data(canned, rendered)


class CannedResponseDetailApi(WorkspaceApi):
    required_scopes = {"GET": READ, "PATCH": SEND, "DELETE": SEND}

    @extend_schema(
        operation_id="canned_responses_retrieve",
        parameters=[
            OpenApiParameter(
                "conversation", str, description="Fill placeholders for this conversation."
            )
        ],
        responses=CannedResponseOutputSerializer,
        tags=["canned-responses"],
    )
    def get(self, request, workspace, canned_response_id):
        canned = selectors.canned_response_get(
            actor=self.actor, canned_response_id=canned_response_id
        )
        rendered = None
        if request.query_params.get("conversation"):
            conversation = selectors.conversation_get(
                actor=self.actor, conversation_id=request.query_params["conversation"]
            )
            rendered = canned_render(canned.text, conversation=conversation, actor=self.actor)
        return Response(canned_data(canned, rendered))

    @extend_schema(
        operation_id="canned_responses_update",
        request=CannedResponseUpdateInputSerializer,
        responses=CannedResponseOutputSerializer,
        tags=["canned-responses"],
    )
    def patch(self, request, workspace, canned_response_id):
        canned = selectors.canned_response_get(
            actor=self.actor, canned_response_id=canned_response_id
        )
        data = CannedResponseUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        canned = library.canned_response_update(
            actor=self.actor, canned=canned, **data.validated_data
        )
        return Response(canned_data(canned))

    @extend_schema(
        operation_id="canned_responses_delete", responses={204: None}, tags=["canned-responses"]
    )
    def delete(self, request, workspace, canned_response_id):
        canned = selectors.canned_response_get(
            actor=self.actor, canned_response_id=canned_response_id
        )
        library.canned_response_delete(actor=self.actor, canned=canned)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _settings_data(workspace: Workspace) -> dict:
    return {
        "agents_see_only_their_teams": workspace.agents_see_only_their_teams,
        "replies_require_assignee": workspace.replies_require_assignee,
        "timezone": workspace.timezone,
        "business_hours": workspace.business_hours or {},
    }


class InboxSettingsApi(WorkspaceApi):
    """Team visibility, time zone and business hours of the workspace's inbox."""

    required_scopes = {"GET": READ, "PATCH": ADMIN}

    @extend_schema(
        operation_id="inbox_settings_retrieve",
        responses=InboxSettingsOutputSerializer,
        tags=["inbox-settings"],
    )
    def get(self, request, workspace):
        return Response(_settings_data(self.workspace))

    @extend_schema(
        operation_id="inbox_settings_update",
        request=InboxSettingsUpdateInputSerializer,
        responses=InboxSettingsOutputSerializer,
        tags=["inbox-settings"],
    )
    def patch(self, request, workspace):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        data = InboxSettingsUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "timezone" in values:
            try:
                ZoneInfo(values["timezone"])
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise InvalidInput(
                    "Unknown time zone.", details={"timezone": ["An IANA name, e.g. Europe/Paris."]}
                ) from exc
        if "business_hours" in values:
            try:
                values["business_hours"] = business_hours_validate(values["business_hours"])
            except ValueError as exc:
                raise InvalidInput(str(exc), details={"business_hours": [str(exc)]}) from exc
        with transaction.atomic():
            Workspace.objects.filter(pk=self.workspace.pk).update(**values)
            audit_record(actor=self.actor, action="inbox_settings.updated", details=values)
        # Actors carry their workspace; this process's remembered ones must see the change.
        remembered_forget()
        return Response(_settings_data(Workspace.objects.get(pk=self.workspace.pk)))


def _assignment_data(team) -> dict:
    return {
        "team": str(team.pk),
        "auto_assign": team.auto_assign,
        "max_open_per_agent": team.max_open_per_agent,
        "last_assigned_member": str(team.last_assigned_member_id)
        if team.last_assigned_member_id
        else None,
    }


class TeamAssignmentApi(WorkspaceApi):
    """A team's automatic assignment: round robin on or off, cap of open conversations."""

    required_scopes = {"GET": READ, "PATCH": ADMIN}

    @extend_schema(
        operation_id="team_assignment_retrieve",
        responses=TeamAssignmentOutputSerializer,
        tags=["teams"],
    )
    def get(self, request, workspace, team_id):
        return Response(_assignment_data(team_get(workspace=self.workspace, team_id=team_id)))

    @extend_schema(
        operation_id="team_assignment_update",
        request=TeamAssignmentUpdateInputSerializer,
        responses=TeamAssignmentOutputSerializer,
        tags=["teams"],
    )
    def patch(self, request, workspace, team_id):
        team = team_get(workspace=self.workspace, team_id=team_id)
        data = TeamAssignmentUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            for key, value in data.validated_data.items():
                setattr(team, key, value)
            team.save(update_fields=list(data.validated_data) or None)
            audit_record(
                actor=self.actor,
                action="team.assignment_updated",
                target_type="team",
                target_id=team.pk,
                details=dict(data.validated_data),
            )
        return Response(_assignment_data(team))
