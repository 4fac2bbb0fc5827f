"""Reads of webhook subscriptions and their delivery log, scoped to one workspace."""

from django.db.models import QuerySet

from ..exceptions import NotFound
from ..models import WebhookDelivery, WebhookSubscription, Workspace


def webhook_list(*, workspace: Workspace) -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.filter(workspace=workspace)


def webhook_get(*, workspace: Workspace, webhook_id) -> WebhookSubscription:
    subscription = webhook_list(workspace=workspace).filter(pk=webhook_id).first()
    if subscription is None:
        raise NotFound("No such webhook.")
    return subscription


def delivery_list(*, subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(subscription=subscription).select_related("event")


def delivery_get(*, subscription: WebhookSubscription, delivery_id) -> WebhookDelivery:
    delivery = delivery_list(subscription=subscription).filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound("No such delivery.")
    return delivery
