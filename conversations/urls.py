"""URLs of the conversations app, under ``/api/v1/workspaces/<workspace>/``."""

from django.urls import path

from .api import inbox, library, reports

workspace_urlpatterns = [
    path("conversations/", inbox.ConversationListApi.as_view(), name="conversation-list"),
    path("conversations/bulk/", inbox.ConversationBulkApi.as_view(), name="conversation-bulk"),
    path(
        "conversations/<uuid:conversation_id>/",
        inbox.ConversationDetailApi.as_view(),
        name="conversation-detail",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/",
        inbox.MessageListApi.as_view(),
        name="conversation-message-list",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/",
        inbox.MessageDetailApi.as_view(),
        name="conversation-message-detail",
    ),
    path("labels/", library.LabelListApi.as_view(), name="label-list"),
    path("labels/<uuid:label_id>/", library.LabelDetailApi.as_view(), name="label-detail"),
    path(
        "canned-responses/",
        library.CannedResponseListApi.as_view(),
        name="canned-response-list",
    ),
    path(
        "canned-responses/<uuid:canned_response_id>/",
        library.CannedResponseDetailApi.as_view(),
        name="canned-response-detail",
    ),
    path("inbox-settings/", library.InboxSettingsApi.as_view(), name="inbox-settings"),
    path(
        "teams/<uuid:team_id>/assignment/",
        library.TeamAssignmentApi.as_view(),
        name="team-assignment",
    ),
    path("reports/summary/", reports.ReportSummaryApi.as_view(), name="report-summary"),
]
