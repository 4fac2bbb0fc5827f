"""Rate limits as fairness between clients, kept in the shared cache (Redis in production)."""

from rest_framework.throttling import SimpleRateThrottle


class CredentialRateThrottle(SimpleRateThrottle):
    """One budget per credential (token prefix or session user), else per client address."""

    scope = "credential"

    def get_cache_key(self, request, view):
        credential = getattr(request, "auth", None)
        if credential is not None and hasattr(credential, "prefix"):
            ident = credential.prefix
        elif request.user and request.user.is_authenticated and request.user.pk:
            ident = f"user:{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AuthRateThrottle(SimpleRateThrottle):
    """Sign-in attempts per client address: slows password and token guessing."""

    scope = "auth"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
