"""Times as clients meet them: in answers, events, webhooks, exports and the audit log."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from crm.times import iso


def test_one_instant_is_one_string_whatever_zone_it_was_held_in():
    paris = timezone(timedelta(hours=2))
    in_utc = datetime(2026, 6, 1, 10, 30, 0, 250_000, tzinfo=UTC)

    # Equal instants in other zones are equal keys for the remembered UTC writer: the
    # order they come in must not change what is written.
    assert iso(in_utc.astimezone(paris)) == "2026-06-01T10:30:00.250000Z"
    assert iso(in_utc) == "2026-06-01T10:30:00.250000Z"
    assert iso(in_utc.astimezone(ZoneInfo("UTC"))) == "2026-06-01T10:30:00.250000Z"
    assert iso(in_utc.astimezone(ZoneInfo("America/Montreal"))) == ("2026-06-01T10:30:00.250000Z")

    assert iso(datetime(2026, 6, 2, 9, 0, tzinfo=paris)) == "2026-06-02T07:00:00Z"
    assert iso(None) is None
