"""The console, mounted by ``config.urls`` under ``/console/``."""

from django.urls import path

from . import views

app_name = "console"

urlpatterns = [
    path("", views.workspaces, name="workspaces"),
    path("login/", views.ConsoleLoginView.as_view(), name="login"),
    path("logout/", views.ConsoleLogoutView.as_view(), name="logout"),
    path("<slug:workspace>/", views.inbox, name="inbox"),
]
