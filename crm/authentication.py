"""Bearer authentication for workspace API keys and members' personal tokens."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.throttling import BaseThrottle

from .exceptions import Forbidden
from .models import ApiKey, PersonalToken
from .process_cache import remembered
from .services.auth_guard import failures_counted
from .services.tokens import API_KEY_KIND, token_hash, token_matches, token_split

# Writing last_used_at on every request would turn each read into a write; a minute of
# precision is enough to tell which keys are alive.
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiKeyUser:
    """Stands in for ``request.user`` when a workspace API key authenticates."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


def client_address(request) -> str:
    """The client's address as the throttles see it: ``REMOTE_ADDR``, or the address that
    the last of ``NUM_PROXIES`` trusted proxies put in ``X-Forwarded-For``."""
    return BaseThrottle().get_ident(request)


def _touch_last_used(model, credential) -> None:
    now = timezone.now()
    if credential.last_used_at is None or now - credential.last_used_at > LAST_USED_PRECISION:
        model.objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` with a workspace API key or a personal token.

    ``request.auth`` is the ``ApiKey`` or ``PersonalToken``; ``request.user`` is the
    token's user, or an ``ApiKeyUser`` for API keys.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, token = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        with failures_counted(
            client=client_address(request), refusals=(exceptions.AuthenticationFailed,)
        ):
            return self.authenticate_token(token.strip())

    def authenticate_token(self, token: str):
        """Resolve a raw token to ``(user, credential)`` or raise AuthenticationFailed.

        A process remembers a resolved token for a few seconds (``crm.process_cache``); its
        expiry is checked on every request.
        """
        parsed = token_split(token)
        if parsed is None:
            raise exceptions.AuthenticationFailed("Malformed bearer token.")
        kind, prefix = parsed
        user, credential = remembered(
            ("token", token_hash(token)), lambda: self._resolve(token, kind, prefix)
        )
        if not credential.is_usable():
            raise exceptions.AuthenticationFailed("This token has expired.")
        _touch_last_used(type(credential), credential)
        return user, credential

    def _resolve(self, token: str, kind: str, prefix: str):
        if kind == API_KEY_KIND:
            credential = ApiKey.objects.select_related("workspace").filter(prefix=prefix).first()
        else:
            credential = PersonalToken.objects.select_related("user").filter(prefix=prefix).first()
        if credential is None or not token_matches(token, credential.key_hash):
            raise exceptions.AuthenticationFailed("Invalid bearer token.")
        if credential.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        if not credential.is_usable():
            raise exceptions.AuthenticationFailed("This token has expired.")
        if kind == API_KEY_KIND:
            return ApiKeyUser(credential), credential
        if not credential.user.is_active:
            raise exceptions.AuthenticationFailed("This user is inactive.")
        return credential.user, credential

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication (browser clients), CSRF enforced on every unsafe method.

    A refused CSRF check answers 403 ``csrf_failed``, the code Django's own CSRF failure
    view uses, so a browser client can tell it from a missing permission.
    """

    def enforce_csrf(self, request) -> None:
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as refused:
            raise Forbidden(str(refused.detail), code="csrf_failed") from None
