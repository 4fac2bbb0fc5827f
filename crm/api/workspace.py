"""Workspace administration: the workspace, members, teams, API keys and the audit log."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from .. import scopes
from ..authentication import ApiKeyUser
from ..models import Membership, Workspace
from ..selectors import (
    api_key_get,
    api_key_list,
    audit_log_list,
    member_get,
    member_list,
    team_get,
    team_list,
)
from ..services import workspaces as svc
from .base import BaseApi, WorkspaceApi

ADMIN = scopes.ADMIN


# --- Workspaces ---------------------------------------------------------------------------


class WorkspaceOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()


class WorkspaceUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class WorkspaceListApi(BaseApi):
    """The workspaces the credential reaches."""

    @extend_schema(
        operation_id="workspaces_list",
        responses=WorkspaceOutputSerializer(many=True),
        tags=["workspace"],
    )
    def get(self, request):
        if isinstance(request.user, ApiKeyUser):
            queryset = Workspace.objects.filter(pk=request.user.api_key.workspace_id)
        else:
            member_of = Membership.objects.filter(user=request.user).values("workspace_id")
            queryset = Workspace.objects.filter(pk__in=member_of)
        return self.paginated_response(
            queryset=queryset, serializer_class=WorkspaceOutputSerializer
        )


class WorkspaceDetailApi(WorkspaceApi):
    required_scopes = {"GET": None, "PATCH": ADMIN}

    @extend_schema(
        operation_id="workspace_retrieve", responses=WorkspaceOutputSerializer, tags=["workspace"]
    )
    def get(self, request, workspace):
        return Response(WorkspaceOutputSerializer(self.workspace).data)

    @extend_schema(
        operation_id="workspace_update",
        request=WorkspaceUpdateInputSerializer,
        responses=WorkspaceOutputSerializer,
        tags=["workspace"],
    )
    def patch(self, request, workspace):
        data = WorkspaceUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = svc.workspace_update(actor=self.actor, name=data.validated_data["name"])
        return Response(WorkspaceOutputSerializer(updated).data)


# --- Members ------------------------------------------------------------------------------


class MemberOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    role = serializers.ChoiceField(choices=scopes.ROLE_CHOICES)
    is_available = serializers.BooleanField()
    teams = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_teams(self, membership) -> list[str]:
        return [str(team.pk) for team in membership.teams.all()]


class MemberCreateInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField(max_length=200, required=False, default="")
    role = serializers.ChoiceField(choices=scopes.ROLE_CHOICES)
    password = serializers.CharField(
        required=False,
        write_only=True,
        style={"input_type": "password"},
        help_text="Sets the password of a new user; ignored for an existing one.",
    )


class MemberUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=scopes.ROLE_CHOICES, required=False)
    is_available = serializers.BooleanField(required=False)


class MemberListApi(WorkspaceApi):
    # Members' names and emails are for those who work the conversations, not for any key.
    required_scopes = {"GET": scopes.CONVERSATIONS_READ, "POST": ADMIN}

    @extend_schema(
        operation_id="members_list", responses=MemberOutputSerializer(many=True), tags=["members"]
    )
    def get(self, request, workspace):
        return self.paginated_response(
            queryset=member_list(workspace=self.workspace),
            serializer_class=MemberOutputSerializer,
        )

    @extend_schema(
        operation_id="members_create",
        request=MemberCreateInputSerializer,
        responses={201: MemberOutputSerializer},
        tags=["members"],
    )
    def post(self, request, workspace):
        data = MemberCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = svc.member_add(actor=self.actor, **data.validated_data)
        membership = member_get(workspace=self.workspace, member_id=membership.pk)
        return Response(MemberOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(WorkspaceApi):
    required_scopes = {"GET": scopes.CONVERSATIONS_READ, "PATCH": ADMIN, "DELETE": ADMIN}

    @extend_schema(
        operation_id="members_retrieve", responses=MemberOutputSerializer, tags=["members"]
    )
    def get(self, request, workspace, member_id):
        member = member_get(workspace=self.workspace, member_id=member_id)
        return Response(MemberOutputSerializer(member).data)

    @extend_schema(
        operation_id="members_update",
        request=MemberUpdateInputSerializer,
        responses=MemberOutputSerializer,
        tags=["members"],
    )
    def patch(self, request, workspace, member_id):
        member = member_get(workspace=self.workspace, member_id=member_id)
        data = MemberUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        svc.member_update(actor=self.actor, membership=member, **data.validated_data)
        member = member_get(workspace=self.workspace, member_id=member_id)
        return Response(MemberOutputSerializer(member).data)

    @extend_schema(operation_id="members_delete", responses={204: None}, tags=["members"])
    def delete(self, request, workspace, member_id):
        member = member_get(workspace=self.workspace, member_id=member_id)
        svc.member_remove(actor=self.actor, membership=member)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Teams --------------------------------------------------------------------------------


class TeamOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    members = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_members(self, team) -> list[str]:
        return [str(m.pk) for m in team.members.all()]


class TeamCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    members = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)


class TeamUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    members = serializers.ListField(child=serializers.UUIDField(), required=False)


class TeamListApi(WorkspaceApi):
    required_scopes = {"GET": scopes.CONVERSATIONS_READ, "POST": ADMIN}

    @extend_schema(
        operation_id="teams_list", responses=TeamOutputSerializer(many=True), tags=["teams"]
    )
    def get(self, request, workspace):
        return self.paginated_response(
            queryset=team_list(workspace=self.workspace), serializer_class=TeamOutputSerializer
        )

    @extend_schema(
        operation_id="teams_create",
        request=TeamCreateInputSerializer,
        responses={201: TeamOutputSerializer},
        tags=["teams"],
    )
    def post(self, request, workspace):
        data = TeamCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        team = svc.team_create(
            actor=self.actor,
            name=data.validated_data["name"],
            member_ids=data.validated_data["members"],
        )
        team = team_get(workspace=self.workspace, team_id=team.pk)
        return Response(TeamOutputSerializer(team).data, status=status.HTTP_201_CREATED)


class TeamDetailApi(WorkspaceApi):
    required_scopes = {"GET": scopes.CONVERSATIONS_READ, "PATCH": ADMIN, "DELETE": ADMIN}

    @extend_schema(operation_id="teams_retrieve", responses=TeamOutputSerializer, tags=["teams"])
    def get(self, request, workspace, team_id):
        return Response(
            TeamOutputSerializer(team_get(workspace=self.workspace, team_id=team_id)).data
        )

    @extend_schema(
        operation_id="teams_update",
        request=TeamUpdateInputSerializer,
        responses=TeamOutputSerializer,
        tags=["teams"],
    )
    def patch(self, request, workspace, team_id):
        team = team_get(workspace=self.workspace, team_id=team_id)
        data = TeamUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        svc.team_update(
            actor=self.actor,
            team=team,
            name=data.validated_data.get("name"),
            member_ids=data.validated_data.get("members"),
        )
        team = team_get(workspace=self.workspace, team_id=team_id)
        return Response(TeamOutputSerializer(team).data)

    @extend_schema(operation_id="teams_delete", responses={204: None}, tags=["teams"])
    def delete(self, request, workspace, team_id):
        svc.team_delete(actor=self.actor, team=team_get(workspace=self.workspace, team_id=team_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- API keys -----------------------------------------------------------------------------


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The token's visible start, to recognise it.")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=scopes.ALL_SCOPES))
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ApiKeyCreatedOutputSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(help_text="The bearer token. Shown in this response only.")


class ApiKeyCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=scopes.ALL_SCOPES))
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ApiKeyUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=scopes.ALL_SCOPES), required=False
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyListApi(WorkspaceApi):
    required_scopes = {"GET": ADMIN, "POST": ADMIN}

    @extend_schema(
        operation_id="api_keys_list", responses=ApiKeyOutputSerializer(many=True), tags=["api-keys"]
    )
    def get(self, request, workspace):
        return self.paginated_response(
            queryset=api_key_list(workspace=self.workspace),
            serializer_class=ApiKeyOutputSerializer,
        )

    @extend_schema(
        operation_id="api_keys_create",
        request=ApiKeyCreateInputSerializer,
        responses={201: ApiKeyCreatedOutputSerializer},
        tags=["api-keys"],
    )
    def post(self, request, workspace):
        data = ApiKeyCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = svc.api_key_create(
            actor=self.actor,
            name=data.validated_data["name"],
            key_scopes=data.validated_data["scopes"],
            expires_at=data.validated_data["expires_at"],
        )
        created.api_key.key = created.token
        return Response(
            ApiKeyCreatedOutputSerializer(created.api_key).data, status=status.HTTP_201_CREATED
        )


class ApiKeyDetailApi(WorkspaceApi):
    required_scopes = {"GET": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}

    @extend_schema(
        operation_id="api_keys_retrieve", responses=ApiKeyOutputSerializer, tags=["api-keys"]
    )
    def get(self, request, workspace, api_key_id):
        api_key = api_key_get(workspace=self.workspace, api_key_id=api_key_id)
        return Response(ApiKeyOutputSerializer(api_key).data)

    @extend_schema(
        operation_id="api_keys_update",
        request=ApiKeyUpdateInputSerializer,
        responses=ApiKeyOutputSerializer,
        tags=["api-keys"],
    )
    def patch(self, request, workspace, api_key_id):
        api_key = api_key_get(workspace=self.workspace, api_key_id=api_key_id)
        data = ApiKeyUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "scopes" in changes:
            changes["key_scopes"] = changes.pop("scopes")
        api_key = svc.api_key_update(actor=self.actor, api_key=api_key, **changes)
        return Response(ApiKeyOutputSerializer(api_key).data)

    @extend_schema(operation_id="api_keys_revoke", responses={204: None}, tags=["api-keys"])
    def delete(self, request, workspace, api_key_id):
        api_key = api_key_get(workspace=self.workspace, api_key_id=api_key_id)
        svc.api_key_revoke(actor=self.actor, api_key=api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Audit log ----------------------------------------------------------------------------


class AuditLogEntryOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    actor = serializers.SerializerMethodField()
    action = serializers.CharField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    details = serializers.DictField()
    ip_address = serializers.IPAddressField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_actor(self, entry) -> dict:
        return {"type": entry.actor_type, "id": entry.actor_id or None, "name": entry.actor_name}


class AuditLogListApi(WorkspaceApi):
    required_scopes = {"GET": ADMIN}

    @extend_schema(
        operation_id="audit_log_list",
        responses=AuditLogEntryOutputSerializer(many=True),
        tags=["audit-log"],
    )
    def get(self, request, workspace):
        return self.paginated_response(
            queryset=audit_log_list(workspace=self.workspace),
            serializer_class=AuditLogEntryOutputSerializer,
        )
