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
from crm.authentication import client_address
from crm.exceptions import TooManyAttempts
from crm.services.auth_guard import auth_failure_record, auth_failures_check
from integrations.models import PLATFORM_CHOICES

from .forms import EmailAuthenticationForm

LOGIN_URL = reverse_lazy("console:login")


class ConsoleLoginView(auth_views.LoginView):
    """Session sign-in for members, bounded like ``POST auth/token``: attempts per address
    (``AuthRateThrottle``) and failed passwords per address (``crm.services.auth_guard``)."""

    template_name = "console/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("console:workspaces")

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        throttle = AuthRateThrottle()
        try:
            if not throttle.allow_request(request, self):
                raise TooManyAttempts(retry_after=int(throttle.wait() or 60))
            auth_failures_check(client=client_address(request))
        except TooManyAttempts as refused:
            return self._refused(refused.wait)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        auth_failure_record(client=client_address(self.request))
        return super().form_invalid(form)

    def _refused(self, retry_after: int) -> HttpResponse:
        form = self.get_form_class()(self.request)
        response = self.render_to_response(
            self.get_context_data(
                form=form,
                throttled=f"Too many sign-in attempts. Try again in {retry_after} seconds.",
            ),
            status=429,
        )
        response["Retry-After"] = str(retry_after)
        return response


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
    return render(
        request, "console/inbox.html", {"workspace": workspace, "platforms": PLATFORM_CHOICES}
    )
