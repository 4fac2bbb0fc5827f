from django.urls import Resolver404, resolve
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView


@extend_schema(exclude=True)
class ApiNotFoundApi(APIView):
    """Answers unknown ``/api/`` paths with the error format, suggesting the slash form."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def _not_found(self, request, *args, **kwargs):
        alternative = request.path[:-1] if request.path.endswith("/") else request.path + "/"
        try:
            match = resolve(alternative)
        except Resolver404:
            match = None
        if match is not None and getattr(match.func, "cls", None) is not type(self):
            raise NotFound(f"No such endpoint; did you mean {alternative}?")
        raise NotFound("No such endpoint.")

    get = post = put = patch = delete = head = options = _not_found
