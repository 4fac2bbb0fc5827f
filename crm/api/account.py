"""The caller's own account: ``me``, signing in for a personal token, personal tokens."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response

from .. import scopes
from ..authentication import ApiKeyUser, client_address
from ..exceptions import Forbidden
from ..selectors import personal_token_get, personal_token_list, workspace_list_for_user
from ..services.auth_guard import failures_counted
from ..services.workspaces import personal_token_create, personal_token_revoke
from .base import BaseApi
from .throttling import AuthRateThrottle


class MeWorkspaceOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField())


class MeUserOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()


class MeApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()


class MeOutputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["member", "api_key"])
    user = MeUserOutputSerializer(allow_null=True)
    api_key = MeApiKeyOutputSerializer(allow_null=True)
    workspaces = MeWorkspaceOutputSerializer(many=True)


class MeApi(BaseApi):
    """Who the credential is and which workspaces it reaches, with role and scopes."""

    @extend_schema(operation_id="me", responses=MeOutputSerializer, tags=["account"])
    def get(self, request):
        if isinstance(request.user, ApiKeyUser):
            key = request.user.api_key
            body = {
                "kind": "api_key",
                "user": None,
                "api_key": key,
                "workspaces": [
                    {
                        "slug": key.workspace.slug,
                        "name": key.workspace.name,
                        "role": None,
                        "scopes": sorted(key.scopes),
                    }
                ],
            }
        else:
            body = {
                "kind": "member",
                "user": request.user,
                "api_key": None,
                "workspaces": [
                    {
                        "slug": m.workspace.slug,
                        "name": m.workspace.name,
                        "role": m.role,
                        "scopes": sorted(scopes.ROLE_SCOPES[m.role]),
                    }
                    for m in workspace_list_for_user(user=request.user)
                ],
            }
        return Response(MeOutputSerializer(body).data)


class PersonalTokenOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class PersonalTokenCreatedOutputSerializer(PersonalTokenOutputSerializer):
    token = serializers.CharField(help_text="The bearer token. Shown once, never again.")


class PersonalTokenCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


def _member_user(request):
    if isinstance(request.user, ApiKeyUser):
        raise Forbidden("Personal tokens belong to members; API keys cannot manage them.")
    return request.user


class PersonalTokenListApi(BaseApi):
    """The caller's personal tokens (members only)."""

    @extend_schema(
        operation_id="me_tokens_list",
        responses=PersonalTokenOutputSerializer(many=True),
        tags=["account"],
    )
    def get(self, request):
        user = _member_user(request)
        return self.paginated_response(
            queryset=personal_token_list(user=user),
            serializer_class=PersonalTokenOutputSerializer,
        )

    @extend_schema(
        operation_id="me_tokens_create",
        request=PersonalTokenCreateInputSerializer,
        responses={201: PersonalTokenCreatedOutputSerializer},
        tags=["account"],
    )
    def post(self, request):
        user = _member_user(request)
        data = PersonalTokenCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, secret = personal_token_create(user=user, **data.validated_data)
        token.token = secret
        return Response(
            PersonalTokenCreatedOutputSerializer(token).data, status=status.HTTP_201_CREATED
        )


class PersonalTokenDetailApi(BaseApi):
    @extend_schema(operation_id="me_tokens_revoke", responses={204: None}, tags=["account"])
    def delete(self, request, token_id):
        user = _member_user(request)
        personal_token_revoke(token=personal_token_get(user=user, token_id=token_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenObtainInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(style={"input_type": "password"})
    name = serializers.CharField(max_length=120, required=False, default="Signed in")


class TokenObtainApi(BaseApi):
    """Exchange a member's email and password for a personal token (throttled)."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        operation_id="auth_token",
        request=TokenObtainInputSerializer,
        responses={201: PersonalTokenCreatedOutputSerializer},
        tags=["account"],
        auth=[],
    )
    def post(self, request):
        data = TokenObtainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with failures_counted(client=client_address(request), refusals=(AuthenticationFailed,)):
            user = authenticate(
                request,
                email=data.validated_data["email"].lower(),
                password=data.validated_data["password"],
            )
            if user is None:
                raise AuthenticationFailed("Wrong email or password.")
        token, secret = personal_token_create(user=user, name=data.validated_data["name"])
        token.token = secret
        return Response(
            PersonalTokenCreatedOutputSerializer(token).data, status=status.HTTP_201_CREATED
        )
