"""URLs of the integrations app."""

from django.urls import path

from .api import views
from .views import inbound_webhook

# Under /api/v1/workspaces/<workspace>/
workspace_urlpatterns = [
    path("brand-accounts/", views.BrandAccountListApi.as_view(), name="brand-account-list"),
    path(
        "brand-accounts/<uuid:brand_account_id>/",
        views.BrandAccountDetailApi.as_view(),
        name="brand-account-detail",
    ),
    path(
        "brand-accounts/<uuid:brand_account_id>/backfill/",
        views.BrandAccountBackfillApi.as_view(),
        name="brand-account-backfill",
    ),
    path("inbound-events/", views.InboundEventListApi.as_view(), name="inbound-event-list"),
    path(
        "inbound-events/<uuid:inbound_event_id>/replay/",
        views.InboundEventReplayApi.as_view(),
        name="inbound-event-replay",
    ),
]

# Directly under /api/v1/: the platforms call these, authenticated by their signatures.
urlpatterns = [
    path("inbound/<uuid:brand_account_id>/", inbound_webhook, name="inbound-webhook"),
]
