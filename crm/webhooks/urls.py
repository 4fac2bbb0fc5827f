"""Routes of outbound webhooks, under ``/api/v1/workspaces/{workspace}/``."""

from django.urls import path

from . import api

workspace_urlpatterns = [
    path("webhooks/", api.WebhookListApi.as_view(), name="webhook-list"),
    path("webhooks/<uuid:webhook_id>/", api.WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<uuid:webhook_id>/rotate-secret/",
        api.WebhookRotateSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/",
        api.WebhookDeliveryListApi.as_view(),
        name="webhook-delivery-list",
    ),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver/",
        api.WebhookRedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
]
