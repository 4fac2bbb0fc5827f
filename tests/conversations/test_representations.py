"""Times as the API and the event log write them."""

from datetime import UTC, datetime, timedelta, timezone

from conversations.representations import iso


def test_a_time_is_written_in_its_own_zone_whatever_equal_instant_came_before():
    # Times of one instant in two zones are equal (and hash alike): the UTC one is written
    # with Z, the other keeps its offset, in either order.
    paris = timezone(timedelta(hours=2))
    in_utc = datetime(2026, 6, 1, 10, 30, 0, 250_000, tzinfo=UTC)
    in_paris = in_utc.astimezone(paris)

    assert iso(in_utc) == "2026-06-01T10:30:00.250000Z"
    assert iso(in_paris) == "2026-06-01T12:30:00.250000+02:00"
    assert iso(in_utc) == "2026-06-01T10:30:00.250000Z"

    later_paris = datetime(2026, 6, 2, 9, 0, tzinfo=paris)
    assert iso(later_paris) == "2026-06-02T09:00:00+02:00"
    assert iso(later_paris.astimezone(UTC)) == "2026-06-02T07:00:00Z"
    assert iso(None) is None
