"""The console's pages: sign in and out, and the HTML shells the JavaScript fills.

The shells hold no data: ``static/console/console.js`` reads and writes everything
through the public REST API (session-authenticated, CSRF token on writes) and the
realtime websocket, as any other client of the API would.
"""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views.decorators.csrf import ensure_csrf_cookie

from crm.api.throttling import AuthRateThrottle

from .forms import EmailAuthenticationForm

LOGIN_URL = reverse_lazy("console:login")


class ConsoleLoginView(auth_views.LoginView):
    """Session sign-in for members, throttled per address like ``POST auth/token``."""

    template_name = "console/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("console:workspaces")

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        throttle = AuthRateThrottle()
        if not throttle.allow_request(request, self):
            wait = int(throttle.wait() or 60)
            form = self.get_form()
            form.errors.clear()
            response = self.render_to_response(
                self.get_context_data(
                    form=form,
                    throttled=f"Too many sign-in attempts. Try again in {wait} seconds.",
                ),
                status=429,
            )
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)


class ConsoleLogoutView(auth_views.LogoutView):
    next_page = LOGIN_URL


@login_required(login_url=LOGIN_URL)
@ensure_csrf_cookie
def workspaces(request: HttpRequest) -> HttpResponse:
    """The workspace picker: the member's workspaces, read from ``GET /api/v1/me``."""
    return render(request, "console/workspaces.html")


@login_required(login_url=LOGIN_URL)
@ensure_csrf_cookie
def inbox(request: HttpRequest, workspace: str) -> HttpResponse:
    """The inbox of one workspace: list, conversation and contact panel."""
    return render(request, "console/inbox.html", {"workspace": workspace})
