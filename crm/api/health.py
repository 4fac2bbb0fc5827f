from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from ..health import health_report
from .base import BaseApi

_check = inline_serializer(
    name="HealthCheck",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "error"]),
        "latency_ms": serializers.FloatField(),
        "detail": serializers.CharField(required=False),
        "error": serializers.CharField(required=False),
    },
)
HealthOutputSerializer = inline_serializer(
    name="Health",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "degraded"]),
        "checks": inline_serializer(
            name="HealthChecks",
            fields={"database": _check, "channel_layer": _check, "broker": _check},
        ),
    },
)


class HealthApi(BaseApi):
    """Live checks of the database, the channel layer and the Celery broker."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    @extend_schema(
        operation_id="health",
        responses={
            200: HealthOutputSerializer,
            503: OpenApiResponse(HealthOutputSerializer, description="A dependency is down."),
        },
        tags=["service"],
    )
    def get(self, request):
        report = health_report()
        return Response(report, status=200 if report["status"] == "ok" else 503)
