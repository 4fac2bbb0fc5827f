"""Keyset pagination over one sort column plus ``id``, for the inbox and message lists.

DRF's cursor paginator positions on the first ordering field and counts ties with an
offset, and cannot page over a nullable column. The inbox sorts on ``waiting_since``
(null when nobody waits, those rows last) and ``last_message_at``, with ``id`` as the tie
breaker, so each page is one range scan of a ``(workspace, …, sort column, id)`` index
whatever its depth.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db.models import F, Q, QuerySet
from rest_framework.exceptions import ValidationError

from crm.api.pagination import page_size_from


@dataclass(frozen=True)
class Page:
    rows: list
    next: str | None
    previous: str | None


def _encode(value: datetime | None, pk: Any, backwards: bool) -> str:
    raw = json.dumps(
        {"v": value.isoformat() if value else None, "id": str(pk), "b": backwards},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime | None, str, bool]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value = datetime.fromisoformat(data["v"]) if data["v"] else None
        return value, str(data["id"]), bool(data["b"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValidationError({"cursor": ["Invalid cursor."]}) from exc


def _after(field: str, value, pk, *, descending: bool, nulls_last: bool) -> Q:
    """Rows strictly after ``(value, pk)`` in the order (field, id) with these rules."""
    op = "lt" if descending else "gt"
    if value is None:
        if nulls_last:
            return Q(**{f"{field}__isnull": True, f"pk__{op}": pk})
        return Q(**{f"{field}__isnull": False}) | Q(**{f"{field}__isnull": True, f"pk__{op}": pk})
    condition = Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk})
    if nulls_last:
        condition |= Q(**{f"{field}__isnull": True})
    return condition


def _ordering(field: str, *, descending: bool, nulls_last: bool, nullable: bool) -> list:
    # A NOT NULL column is ordered without a NULLS clause, which PostgreSQL would otherwise
    # have to match against the index's own (DESC indexes keep nulls first).
    nulls = {} if not nullable else ({"nulls_last": True} if nulls_last else {"nulls_first": True})
    if descending:
        return [F(field).desc(**nulls), "-pk"]
    return [F(field).asc(**nulls), "pk"]


def _position(row, field: str) -> tuple[Any, Any]:
    """``(field, id)`` of a row, a model instance or a ``values()`` dict."""
    if isinstance(row, dict):
        return row[field], row["id"]
    return getattr(row, field), row.pk


def _link(request, cursor: str) -> str:
    url = request.build_absolute_uri()
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cursor"]
    query.append(("cursor", cursor))
    return urlunsplit(parts._replace(query=urlencode(query)))


def keyset_page(
    request,
    queryset: QuerySet,
    *,
    field: str,
    descending: bool,
    nullable: bool = False,
    default_size: int = 50,
) -> Page:
    """One page of ``queryset`` ordered by ``field`` (nulls last) then ``pk``.

    ``queryset`` may be of model instances or of ``values()`` dicts (with ``id``).

    The ``cursor`` query parameter positions the page; ``next``/``previous`` are links.
    """
    size = page_size_from(request, default=default_size)
    raw = request.query_params.get("cursor")
    backwards = False
    if raw:
        value, pk, backwards = _decode(raw)
        if backwards:
            # Read the reversed order from the cursor, then turn the page around.
            queryset = queryset.filter(
                _after(field, value, pk, descending=not descending, nulls_last=False)
            ).order_by(
                *_ordering(field, descending=not descending, nulls_last=False, nullable=nullable)
            )
        else:
            queryset = queryset.filter(
                _after(field, value, pk, descending=descending, nulls_last=True)
            ).order_by(*_ordering(field, descending=descending, nulls_last=True, nullable=nullable))
    else:
        queryset = queryset.order_by(
            *_ordering(field, descending=descending, nulls_last=True, nullable=nullable)
        )
    rows = list(queryset[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    next_link = previous_link = None
    if rows:
        first, last = rows[0], rows[-1]
        more_after = backwards or has_more
        more_before = has_more if backwards else bool(raw)
        if more_after:
            next_link = _link(request, _encode(*_position(last, field), False))
        if more_before:
            previous_link = _link(request, _encode(*_position(first, field), True))
    return Page(rows=rows, next=next_link, previous=previous_link)
