"""Root URL configuration: the versioned API under ``/api/v1/``, the agent console under
``/console/``."""

from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from console import urls as console_urls
from contacts import urls as contacts_urls
from conversations import urls as conversations_urls
from crm import urls as crm_urls
from crm.api.notfound import ApiNotFoundApi
from integrations import urls as integrations_urls

# Every app adds its workspace-scoped routes here; they all inherit WorkspaceApi, and the
# isolation test walks this list.
workspace_urlpatterns = [
    *crm_urls.workspace_urlpatterns,
    *conversations_urls.workspace_urlpatterns,
    *contacts_urls.workspace_urlpatterns,
    *integrations_urls.workspace_urlpatterns,
]

api_v1_urlpatterns = [
    # First: the platforms' webhooks are the most frequent requests, and a path is matched
    # against the patterns in turn.
    *integrations_urls.urlpatterns,
    *crm_urls.urlpatterns,
    path("workspaces/<slug:workspace>/", include(workspace_urlpatterns)),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="v1:schema"), name="docs"),
]

urlpatterns = [
    path("api/v1/", include((api_v1_urlpatterns, "v1"), namespace="v1")),
    # Unknown API paths answer in the API's error format, even with DEBUG on.
    re_path(r"^api/", ApiNotFoundApi.as_view()),
    path("console/", include(console_urls)),
    path("", RedirectView.as_view(pattern_name="console:workspaces")),
]

handler400 = "crm.api.errors.handler400"
handler403 = "crm.api.errors.handler403"
handler404 = "crm.api.errors.handler404"
handler500 = "crm.api.errors.handler500"
