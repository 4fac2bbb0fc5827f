"""``reports/summary/``: counts and response times by channel, team and agent."""

import csv
import io
from datetime import UTC, datetime, time, timedelta

from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from crm import scopes
from crm.api.base import WorkspaceApi
from crm.exceptions import InvalidInput

from ..reports import report_csv_rows, report_summary
from .serializers import ReportSummaryOutputSerializer

DEFAULT_PERIOD = timedelta(days=30)


def _moment(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    parsed = parse_datetime(raw)
    if parsed is None:
        day = parse_date(raw)
        if day is None:
            raise InvalidInput(
                f"{name} is an ISO 8601 date or time.", details={name: [f"{raw!r} is invalid."]}
            )
        parsed = datetime.combine(day, time.min)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


class ReportSummaryApi(WorkspaceApi):
    """Service levels over ``[from, to)``; ``?export=csv`` gives one row per conversation."""

    required_scopes = {"GET": scopes.CONVERSATIONS_READ}

    @extend_schema(
        operation_id="reports_summary",
        parameters=[
            OpenApiParameter("from", str, description="Start (inclusive); default 30 days ago."),
            OpenApiParameter("to", str, description="End (exclusive); default now."),
            OpenApiParameter(
                "export", str, enum=["csv"], description="`csv`: one row per conversation."
            ),
        ],
        responses={
            200: OpenApiResponse(
                response=ReportSummaryOutputSerializer,
                description="JSON summary, or text/csv with export=csv.",
            ),
        },
        tags=["reports"],
    )
    def get(self, request, workspace):
        end = _moment(request.query_params.get("to"), "to") or timezone.now()
        start = _moment(request.query_params.get("from"), "from") or end - DEFAULT_PERIOD
        if start >= end:
            raise InvalidInput("from must be before to.", details={"from": ["After to."]})
        if request.query_params.get("export") == "csv":
            buffer = io.StringIO()
            csv.writer(buffer).writerows(report_csv_rows(actor=self.actor, start=start, end=end))
            response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="conversations.csv"'
            return response
        return Response(report_summary(actor=self.actor, start=start, end=end))
