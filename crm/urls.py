"""URLs of the crm app, mounted by ``config.urls`` under ``/api/v1/``."""

from django.urls import path

from .api import account, events, health, realtime, workspace
from .webhooks import urls as webhook_urls

# Under /api/v1/workspaces/<workspace>/
workspace_urlpatterns = [
    path("", workspace.WorkspaceDetailApi.as_view(), name="workspace-detail"),
    path("members/", workspace.MemberListApi.as_view(), name="member-list"),
    path("members/<uuid:member_id>/", workspace.MemberDetailApi.as_view(), name="member-detail"),
    path("teams/", workspace.TeamListApi.as_view(), name="team-list"),
    path("teams/<uuid:team_id>/", workspace.TeamDetailApi.as_view(), name="team-detail"),
    path("api-keys/", workspace.ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<uuid:api_key_id>/", workspace.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("audit-log/", workspace.AuditLogListApi.as_view(), name="audit-log"),
    path("events/", events.EventListApi.as_view(), name="event-list"),
    path("realtime/tickets/", realtime.RealtimeTicketApi.as_view(), name="realtime-tickets"),
    *webhook_urls.workspace_urlpatterns,
]

# Directly under /api/v1/
urlpatterns = [
    path("health", health.HealthApi.as_view(), name="health"),
    path("me", account.MeApi.as_view(), name="me"),
    path("me/tokens/", account.PersonalTokenListApi.as_view(), name="me-token-list"),
    path(
        "me/tokens/<uuid:token_id>/",
        account.PersonalTokenDetailApi.as_view(),
        name="me-token-detail",
    ),
    path("auth/token", account.TokenObtainApi.as_view(), name="auth-token"),
    path("workspaces/", workspace.WorkspaceListApi.as_view(), name="workspace-list"),
]
