"""Times as Causerie writes them for clients: ISO 8601 in UTC, ``Z`` for the offset.

API.md's times carry an offset, always UTC. Every answer, event, webhook, export and
audit entry writes its times here, so that one instant is one string wherever a client
meets it (and a client may compare them as text).
"""

from datetime import UTC, datetime
from functools import lru_cache


def iso(value: datetime | None) -> str | None:
    """An aware time in ISO 8601 in UTC, written with ``Z``; ``None`` stays ``None``."""
    if value is None:
        return None
    # The same times come back within a batch and a page (its ``now``, a message's time
    # that is also its thread's last): formatting them was 4 % of batch ingest's CPU.
    # Only times already in UTC are remembered: times of equal instants in other zones
    # are equal keys, and the first one's zone must not decide how the next is written.
    if value.tzinfo is UTC:
        return _written_remembered(value)
    return _written(value.astimezone(UTC))


def _written(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


_written_remembered = lru_cache(maxsize=4096)(_written)
