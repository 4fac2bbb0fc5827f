"""``webhooks/``: outbound subscriptions, their secrets and their delivery log.

Every operation needs the ``webhooks:manage`` scope.
"""

from datetime import timedelta

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from .. import scopes
from ..api.base import WorkspaceApi
from . import services as svc
from .delivery import RETRY_SCHEDULE
from .selectors import delivery_get, delivery_list, webhook_get, webhook_list

MANAGE = scopes.WEBHOOKS_MANAGE
TAGS = ["webhooks"]


class WebhookOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    events = serializers.ListField(
        child=serializers.CharField(),
        help_text='Event types delivered, or `["*"]` for every type the creator could read.',
    )
    active = serializers.BooleanField()
    description = serializers.CharField()
    disabled_reason = serializers.CharField(
        help_text="Why Causerie turned the subscription off (empty otherwise)."
    )
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until then the previous secret signs too (after a rotation)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookWithSecretOutputSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (`whsec_...`). Shown in this response only."
    )


class WebhookCreateInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, help_text="https:// (or http://) endpoint.")
    events = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=lambda: [svc.ALL_EVENTS],
        max_length=100,
        help_text='Event types such as `contact.created`, or `["*"]` (the default) for all.',
    )
    active = serializers.BooleanField(required=False, default=True)
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class WebhookUpdateInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=100
    )
    active = serializers.BooleanField(
        required=False, help_text="Turning a disabled subscription on resumes where it stopped."
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class WebhookRotateInputSerializer(serializers.Serializer):
    overlap_seconds = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=int(svc.MAX_ROTATION_OVERLAP.total_seconds()),
        default=int(svc.DEFAULT_ROTATION_OVERLAP.total_seconds()),
        help_text="How long the previous secret keeps signing too (default 24 h, 0 for none).",
    )


class DeliveryEventSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    seq = serializers.IntegerField()
    type = serializers.CharField()


class DeliveryOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.UUIDField(source="event_id", help_text="The delivered event's id.")
    event_seq = serializers.IntegerField(source="event.seq")
    event_type = serializers.CharField(source="event.type")
    webhook_id = serializers.CharField(
        source="msg_id", help_text="The `webhook-id` header: the same for every attempt."
    )
    attempt = serializers.IntegerField(help_text="1 for the first attempt at this event.")
    trigger = serializers.ChoiceField(choices=["automatic", "redelivery"])
    status_code = serializers.IntegerField(allow_null=True)
    ok = serializers.BooleanField()
    duration_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(help_text="Timeout, network error, refused URL, HTTP status.")
    response_excerpt = serializers.CharField(help_text="The first kilobyte of the response.")
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="When the next automatic attempt was scheduled, if any."
    )
    created_at = serializers.DateTimeField()


class RedeliverOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["queued"])
    delivery = serializers.UUIDField()
    event = serializers.UUIDField()
    webhook_id = serializers.CharField()


def _with_secret(created: svc.WebhookWithSecret) -> dict:
    data = dict(WebhookOutputSerializer(created.subscription).data)
    data["secret"] = created.secret
    return data


class WebhookListApi(WorkspaceApi):
    """Outbound webhook subscriptions.

    Deliveries follow the Standard Webhooks specification (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`), in `seq` order per subscription, retried
    with exponential backoff and jitter for at least 24 h.
    """

    required_scopes = {"GET": MANAGE, "POST": MANAGE}

    @extend_schema(
        operation_id="webhooks_list", responses=WebhookOutputSerializer(many=True), tags=TAGS
    )
    def get(self, request, workspace):
        return self.paginated_response(
            queryset=webhook_list(workspace=self.workspace),
            serializer_class=WebhookOutputSerializer,
        )

    @extend_schema(
        operation_id="webhooks_create",
        request=WebhookCreateInputSerializer,
        responses={201: WebhookWithSecretOutputSerializer},
        tags=TAGS,
    )
    def post(self, request, workspace):
        data = WebhookCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = svc.webhook_create(actor=self.actor, **data.validated_data)
        return Response(_with_secret(created), status=status.HTTP_201_CREATED)


class WebhookDetailApi(WorkspaceApi):
    required_scopes = {"GET": MANAGE, "PATCH": MANAGE, "DELETE": MANAGE}

    @extend_schema(operation_id="webhooks_retrieve", responses=WebhookOutputSerializer, tags=TAGS)
    def get(self, request, workspace, webhook_id):
        subscription = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        return Response(WebhookOutputSerializer(subscription).data)

    @extend_schema(
        operation_id="webhooks_update",
        request=WebhookUpdateInputSerializer,
        responses=WebhookOutputSerializer,
        tags=TAGS,
    )
    def patch(self, request, workspace, webhook_id):
        subscription = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        data = WebhookUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = svc.webhook_update(
            actor=self.actor, subscription=subscription, **data.validated_data
        )
        return Response(WebhookOutputSerializer(subscription).data)

    @extend_schema(operation_id="webhooks_delete", responses={204: None}, tags=TAGS)
    def delete(self, request, workspace, webhook_id):
        subscription = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        svc.webhook_delete(actor=self.actor, subscription=subscription)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretApi(WorkspaceApi):
    """A new secret; the previous one keeps signing too during the overlap."""

    required_scopes = {"POST": MANAGE}

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        request=WebhookRotateInputSerializer,
        responses={200: WebhookWithSecretOutputSerializer},
        tags=TAGS,
    )
    def post(self, request, workspace, webhook_id):
        subscription = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        data = WebhookRotateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rotated = svc.webhook_secret_rotate(
            actor=self.actor,
            subscription=subscription,
            overlap=timedelta(seconds=data.validated_data["overlap_seconds"]),
        )
        return Response(_with_secret(rotated))


class WebhookDeliveryListApi(WorkspaceApi):
    """Every delivery attempt of the subscription, newest first."""

    required_scopes = {"GET": MANAGE}

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        responses=DeliveryOutputSerializer(many=True),
        tags=TAGS,
        description="Retry schedule after consecutive failures (±20 % jitter): "
        + ", ".join(f"{int(d.total_seconds())} s" for d in RETRY_SCHEDULE)
        + " (then every 10 h); a subscription failing for 24 h is disabled.",
    )
    def get(self, request, workspace, webhook_id):
        subscription = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        return self.paginated_response(
            queryset=delivery_list(subscription=subscription),
            serializer_class=DeliveryOutputSerializer,
        )


class WebhookRedeliverApi(WorkspaceApi):
    """Send the delivery's event again, once, with the same `webhook-id`."""

    required_scopes = {"POST": MANAGE}

    @extend_schema(
        operation_id="webhooks_deliveries_redeliver",
        request=None,
        responses={202: RedeliverOutputSerializer},
        tags=TAGS,
    )
    def post(self, request, workspace, webhook_id, delivery_id):
        subscription = webhook_get(workspace=self.workspace, webhook_id=webhook_id)
        delivery = delivery_get(subscription=subscription, delivery_id=delivery_id)
        svc.webhook_redeliver(actor=self.actor, delivery=delivery)
        return Response(
            {
                "status": "queued",
                "delivery": str(delivery.pk),
                "event": str(delivery.event_id),
                "webhook_id": delivery.msg_id,
            },
            status=status.HTTP_202_ACCEPTED,
        )
