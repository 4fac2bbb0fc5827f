"""The API's JSON: DRF's bytes, written faster."""

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer

from crm.api.renderers import JSONRenderer


def _both(data, media_type=None) -> tuple[bytes, bytes]:
    return (
        JSONRenderer().render(data, media_type, {}),
        DrfJSONRenderer().render(data, media_type, {}),
    )


def test_an_answer_is_written_byte_for_byte_as_drf_writes_it():
    paris = timezone(timedelta(hours=2))
    data = {
        "results": [
            {
                "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
                "name": "Zoë « Gauthier » 🙏",
                "line_separators": "a\u2028b\u2029c",
                "quote": 'say "hi"\n\\',
                "count": 3,
                "ratio": 0.1,
                "flag": True,
                "none": None,
                "at": datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC),
                "at_paris": datetime(2026, 12, 1, 9, 30, tzinfo=paris),
                "day": date(2026, 12, 1),
                "amount": Decimal("12.50"),
                "label": gettext_lazy("Open"),
                "tags": ("vip", "b2b"),
            }
        ],
        "next": "https://example.com/api/v1/workspaces/acme/contacts/?cursor=cD0y",
        "previous": None,
    }

    ours, drf = _both(data)

    assert ours == drf
    assert b"\\u2028" in ours
    assert b"\xe2\x80\xa8" not in ours
    assert b'"2026-12-01T09:30:00.123456Z"' in ours


def test_what_orjson_refuses_and_indented_answers_are_drfs_own():
    for data in ({1: "int key", None: "none key"}, {"big": 2**70}, {"deep": [{2.5: "x"}]}):
        ours, drf = _both(data)
        assert ours == drf
    ours, drf = _both({"a": [1, {"b": None}]}, "application/json; indent=2")
    assert ours == drf
    assert b"\n  " in ours
    assert JSONRenderer().render(None) == b""
