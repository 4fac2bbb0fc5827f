"""Business-hours clocks for service levels.

A workspace's ``business_hours`` maps weekday names (``mon`` … ``sun``) to lists of
``["HH:MM", "HH:MM"]`` intervals in the workspace's ``timezone``; a day that is absent is
closed, and an empty setting means always open. Durations count only the seconds that
fall inside those intervals, computed day by day in local time so that daylight saving
changes are honoured.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A clock that runs for longer than this is data from another era; stop counting.
MAX_DAYS = 3660


def _parse_time(value: str) -> time:
    if value in ("24:00", "24:00:00"):
        return time.max
    return time.fromisoformat(value)


def business_hours_validate(hours: dict) -> dict:
    """Normalised business hours, or ValueError naming what is wrong."""
    if not isinstance(hours, dict):
        raise ValueError("business_hours is an object of weekday -> intervals.")
    clean: dict[str, list[list[str]]] = {}
    for day, intervals in hours.items():
        if day not in WEEKDAYS:
            raise ValueError(f"Unknown weekday {day!r}; use {', '.join(WEEKDAYS)}.")
        if not isinstance(intervals, list):
            raise ValueError(f"{day}: a list of [start, end] pairs.")
        clean[day] = []
        for interval in intervals:
            if not (isinstance(interval, list | tuple) and len(interval) == 2):
                raise ValueError(f"{day}: each interval is [start, end].")
            start, end = (_parse_time(str(v)) for v in interval)
            if start >= end:
                raise ValueError(f"{day}: an interval ends after it starts.")
            clean[day].append([str(interval[0]), str(interval[1])])
    return clean


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def business_seconds(*, workspace, start: datetime, end: datetime) -> int:
    """Seconds between ``start`` and ``end`` that fall inside the workspace's hours."""
    if end <= start:
        return 0
    hours = workspace.business_hours or {}
    if not hours:
        return int((end - start).total_seconds())
    zone = _zone(workspace.timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    total = 0.0
    day: date = local_start.date()
    last: date = min(local_end.date(), day + timedelta(days=MAX_DAYS))
    while day <= last:
        for opens, closes in hours.get(WEEKDAYS[day.weekday()], []):
            open_at = datetime.combine(day, _parse_time(opens), tzinfo=zone)
            close_at = datetime.combine(day, _parse_time(closes), tzinfo=zone)
            # Timestamps, not datetime subtraction: two times of one ZoneInfo subtract as
            # wall clock, which is wrong across a daylight saving change.
            overlap = min(close_at.timestamp(), end.timestamp()) - max(
                open_at.timestamp(), start.timestamp()
            )
            if overlap > 0:
                total += overlap
        day += timedelta(days=1)
    return round(total)
