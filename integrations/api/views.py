"""Brand accounts and the raw inbound event store, per API.md."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from crm.api.base import WorkspaceApi
from crm.scopes import ADMIN, CONVERSATIONS_READ

from ..models import PLATFORM_CHOICES, InboundEvent
from ..selectors import (
    brand_account_get,
    brand_account_list,
    inbound_event_get,
    inbound_event_list,
)
from ..services import brand_accounts as svc
from ..services.inbound import inbound_event_replay
from ..services.polling import brand_account_backfill_start


class BackfillOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        source="backfill_status", choices=["idle", "running", "done", "failed"]
    )
    items = serializers.IntegerField(source="backfill_items", help_text="Items fetched so far.")
    started_at = serializers.DateTimeField(source="backfill_started_at", allow_null=True)
    finished_at = serializers.DateTimeField(source="backfill_finished_at", allow_null=True)
    error = serializers.CharField(source="backfill_error", allow_blank=True)


class BrandAccountOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES)
    name = serializers.CharField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "error", "disabled"])
    webhook_url = serializers.URLField(help_text="The absolute URL the platform must call.")
    last_error = serializers.CharField(allow_blank=True)
    backfill = BackfillOutputSerializer(source="*", help_text="Progress of the history backfill.")
    created_at = serializers.DateTimeField()


class BrandAccountCreateInputSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES)
    name = serializers.CharField(max_length=200)
    external_id = serializers.CharField(
        max_length=255,
        help_text="The platform's id of the account; for discourse and wordpress, the "
        "site's base URL (http or https).",
    )
    credentials = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        write_only=True,
        help_text="Write-only; key names per platform in API.md (discourse: api_key, "
        "api_username, webhook_secret; wordpress: username, application_password). "
        "Stored encrypted.",
    )


class BrandAccountUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    status = serializers.ChoiceField(choices=["active", "disabled"], required=False)
    credentials = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        write_only=True,
        required=False,
        help_text="Keys given replace the stored ones; keys left out are kept.",
    )


class BrandAccountListApi(WorkspaceApi):
    required_scopes = {"GET": CONVERSATIONS_READ, "POST": ADMIN}

    @extend_schema(
        operation_id="brand_accounts_list",
        responses=BrandAccountOutputSerializer(many=True),
        tags=["brand-accounts"],
    )
    def get(self, request, workspace):
        return self.paginated_response(
            queryset=brand_account_list(workspace=self.workspace),
            serializer_class=BrandAccountOutputSerializer,
        )

    @extend_schema(
        operation_id="brand_accounts_create",
        request=BrandAccountCreateInputSerializer,
        responses={201: BrandAccountOutputSerializer},
        tags=["brand-accounts"],
    )
    def post(self, request, workspace):
        data = BrandAccountCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = svc.brand_account_create(actor=self.actor, **data.validated_data)
        return Response(BrandAccountOutputSerializer(account).data, status=status.HTTP_201_CREATED)


class BrandAccountDetailApi(WorkspaceApi):
    required_scopes = {"GET": CONVERSATIONS_READ, "PATCH": ADMIN, "DELETE": ADMIN}

    @extend_schema(
        operation_id="brand_accounts_retrieve",
        responses=BrandAccountOutputSerializer,
        tags=["brand-accounts"],
    )
    def get(self, request, workspace, brand_account_id):
        account = brand_account_get(workspace=self.workspace, brand_account_id=brand_account_id)
        return Response(BrandAccountOutputSerializer(account).data)

    @extend_schema(
        operation_id="brand_accounts_update",
        request=BrandAccountUpdateInputSerializer,
        responses=BrandAccountOutputSerializer,
        tags=["brand-accounts"],
    )
    def patch(self, request, workspace, brand_account_id):
        account = brand_account_get(workspace=self.workspace, brand_account_id=brand_account_id)
        data = BrandAccountUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = svc.brand_account_update(actor=self.actor, account=account, **data.validated_data)
        return Response(BrandAccountOutputSerializer(account).data)

    @extend_schema(
        operation_id="brand_accounts_delete", responses={204: None}, tags=["brand-accounts"]
    )
    def delete(self, request, workspace, brand_account_id):
        account = brand_account_get(workspace=self.workspace, brand_account_id=brand_account_id)
        svc.brand_account_delete(actor=self.actor, account=account)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BrandAccountBackfillApi(WorkspaceApi):
    """Pull the account's recent history from the platform (where its API allows it)."""

    required_scopes = {"POST": ADMIN}

    @extend_schema(
        operation_id="brand_accounts_backfill",
        request=None,
        responses={202: BrandAccountOutputSerializer},
        tags=["brand-accounts"],
    )
    def post(self, request, workspace, brand_account_id):
        account = brand_account_get(workspace=self.workspace, brand_account_id=brand_account_id)
        account = brand_account_backfill_start(actor=self.actor, account=account)
        return Response(BrandAccountOutputSerializer(account).data, status=status.HTTP_202_ACCEPTED)


class InboundEventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    brand_account = serializers.UUIDField(source="brand_account_id")
    platform = serializers.CharField()
    status = serializers.ChoiceField(choices=InboundEvent.STATUS_CHOICES)
    attempts = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)


STATUSES = [value for value, _ in InboundEvent.STATUS_CHOICES]


class InboundEventListApi(WorkspaceApi):
    required_scopes = {"GET": ADMIN}

    @extend_schema(
        operation_id="inbound_events_list",
        parameters=[OpenApiParameter("status", str, enum=STATUSES)],
        responses=InboundEventOutputSerializer(many=True),
        tags=["inbound-events"],
    )
    def get(self, request, workspace):
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in STATUSES:
            raise ValidationError({"status": [f"Must be one of {', '.join(STATUSES)}."]})
        return self.paginated_response(
            queryset=inbound_event_list(workspace=self.workspace, status=wanted),
            serializer_class=InboundEventOutputSerializer,
            ordering=("-received_at", "-id"),
        )


class InboundEventReplayApi(WorkspaceApi):
    required_scopes = {"POST": ADMIN}

    @extend_schema(
        operation_id="inbound_events_replay",
        request=None,
        responses={202: InboundEventOutputSerializer},
        tags=["inbound-events"],
    )
    def post(self, request, workspace, inbound_event_id):
        event = inbound_event_get(workspace=self.workspace, inbound_event_id=inbound_event_id)
        event = inbound_event_replay(actor=self.actor, event=event)
        return Response(InboundEventOutputSerializer(event).data, status=status.HTTP_202_ACCEPTED)
