"""Primary keys: UUIDs ordered by the time they are made (UUID version 7, RFC 9562 §5.7).

A random key (version 4) lands on a random page of its primary key's index: each insert
into a large table (messages, events, inbound events) reads and dirties a page of its own.
A key that starts with the time in milliseconds lands at the right edge, as a sequence's
would, while still being made without asking the database. Measured on ingest (bench
database, 1,000,000 messages, alternated drains of 10,000 events, two processes):
PostgreSQL's CPU per event 0.204-0.209 → 0.187-0.194 ms, 4,950-5,155 → 5,284-5,464
events/s (bench/FINDINGS.md). The time a row was made is no secret: every answer
carries its ``created_at``.
"""

import os
import time
import uuid

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_VERSION_MASK = 0xF << 76
_VARIANT_MASK = 0b11 << 62


def uuid7() -> uuid.UUID:
    """A new UUID version 7: 48 bits of Unix time in milliseconds, then 74 random bits
    (the version and variant bits between). Keys made within one millisecond are in no
    particular order among themselves."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return uuid.UUID(int=value & ~_VERSION_MASK & ~_VARIANT_MASK | _VERSION | _VARIANT)
