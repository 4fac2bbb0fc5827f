"""URLs of the contacts app, mounted by ``config.urls`` under the workspace."""

from django.urls import path

from .api import views

# Under /api/v1/workspaces/<workspace>/
workspace_urlpatterns = [
    path("contacts/", views.ContactListApi.as_view(), name="contact-list"),
    path("contacts/merge/", views.ContactMergeApi.as_view(), name="contact-merge"),
    path("contacts/import/", views.ContactImportApi.as_view(), name="contact-import"),
    path("contacts/export.csv", views.ContactCsvExportApi.as_view(), name="contact-export-csv"),
    path("contacts/<uuid:contact_id>/", views.ContactDetailApi.as_view(), name="contact-detail"),
    path(
        "contacts/<uuid:contact_id>/identities/",
        views.IdentityListApi.as_view(),
        name="contact-identity-list",
    ),
    path(
        "contacts/<uuid:contact_id>/identities/<uuid:identity_id>/",
        views.IdentityDetailApi.as_view(),
        name="contact-identity-detail",
    ),
    path(
        "contacts/<uuid:contact_id>/timeline/",
        views.TimelineApi.as_view(),
        name="contact-timeline",
    ),
    path("contacts/<uuid:contact_id>/notes/", views.NoteListApi.as_view(), name="contact-notes"),
    path(
        "contacts/<uuid:contact_id>/duplicates/",
        views.DuplicateListApi.as_view(),
        name="contact-duplicates",
    ),
    path(
        "contacts/<uuid:contact_id>/merges/",
        views.ContactMergeListApi.as_view(),
        name="contact-merges",
    ),
    path(
        "contacts/<uuid:contact_id>/unmerge/",
        views.ContactUnmergeApi.as_view(),
        name="contact-unmerge",
    ),
    path(
        "contacts/<uuid:contact_id>/export/",
        views.ContactExportApi.as_view(),
        name="contact-export",
    ),
    path(
        "contacts/<uuid:contact_id>/erase/", views.ContactEraseApi.as_view(), name="contact-erase"
    ),
    path(
        "contact-attributes/",
        views.AttributeDefinitionListApi.as_view(),
        name="contact-attribute-list",
    ),
    path(
        "contact-attributes/<uuid:attribute_id>/",
        views.AttributeDefinitionDetailApi.as_view(),
        name="contact-attribute-detail",
    ),
]
