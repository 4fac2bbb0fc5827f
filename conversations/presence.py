"""Presence: who views or types in which conversation, right now.

Ephemeral by design: never in the event log, never in the database. Each websocket
connection holds at most one state per conversation, with an expiry; readers ignore
expired entries, so a process that dies without cleaning up is forgotten after the TTL.
With ``REDIS_URL`` the entries live in Redis (one hash per conversation), so every web
process, and the REST process deciding on a reply's collision warning, sees the same
presence; the embedded default keeps them in process memory.
"""

import json
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

VIEWING = "viewing"
TYPING = "typing"
IDLE = "idle"
STATES = (VIEWING, TYPING, IDLE)
# A member with several connections shows its strongest state.
_RANK = {IDLE: 0, VIEWING: 1, TYPING: 2}


@dataclass(frozen=True)
class PresenceEntry:
    connection: str
    member: str
    state: str
    expires_at: float  # Unix time


def presence_ttl() -> float:
    """Seconds a presence lasts unless its connection refreshes it."""
    return float(getattr(settings, "CAUSERIE_REALTIME_PRESENCE_TTL", 30.0))


class _MemoryStore:
    """One process's presence (the embedded default: a single web process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, PresenceEntry]] = {}

    def put(self, conversation: str, entry: PresenceEntry) -> None:
        with self._lock:
            self._data.setdefault(conversation, {})[entry.connection] = entry

    def remove(self, conversation: str, connection: str) -> None:
        with self._lock:
            entries = self._data.get(conversation, {})
            entries.pop(connection, None)
            if not entries:
                self._data.pop(conversation, None)

    def entries(self, conversation: str) -> list[PresenceEntry]:
        with self._lock:
            return list(self._data.get(conversation, {}).values())

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class _RedisStore:
    """Presence shared by every process: a Redis hash per conversation, field per connection."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    @staticmethod
    def _key(conversation: str) -> str:
        return f"causerie:presence:{conversation}"

    def put(self, conversation: str, entry: PresenceEntry) -> None:
        key = self._key(conversation)
        value = json.dumps({"m": entry.member, "s": entry.state, "e": entry.expires_at})
        pipe = self._redis.pipeline()
        pipe.hset(key, entry.connection, value)
        # The hash outlives its newest entry by a little, then Redis drops it by itself.
        pipe.expire(key, int(presence_ttl()) + 5)
        pipe.execute()

    def remove(self, conversation: str, connection: str) -> None:
        self._redis.hdel(self._key(conversation), connection)

    def entries(self, conversation: str) -> list[PresenceEntry]:
        raw = self._redis.hgetall(self._key(conversation))
        result = []
        for connection, value in raw.items():
            data = json.loads(value)
            result.append(
                PresenceEntry(
                    connection=connection.decode(),
                    member=data["m"],
                    state=data["s"],
                    expires_at=float(data["e"]),
                )
            )
        return result

    def clear(self) -> None:
        for key in self._redis.scan_iter(match="causerie:presence:*"):
            self._redis.delete(key)


@lru_cache(maxsize=1)
def _store() -> _MemoryStore | _RedisStore:
    url = getattr(settings, "REDIS_URL", "")
    return _RedisStore(url) if url else _MemoryStore()


def presence_set(*, conversation_id: str, connection: str, member_id: str, state: str) -> float:
    """Record (or refresh) a connection's state in a conversation; return its expiry.

    ``idle`` removes the connection's entry.
    """
    conversation_id = str(conversation_id)
    if state == IDLE:
        _store().remove(conversation_id, connection)
        return 0.0
    expires_at = time.time() + presence_ttl()
    _store().put(
        conversation_id,
        PresenceEntry(
            connection=connection, member=str(member_id), state=state, expires_at=expires_at
        ),
    )
    return expires_at


def presence_members(*, conversation_id: str) -> dict[str, tuple[str, float]]:
    """Each present member's strongest live state and its expiry, by member id."""
    now = time.time()
    members: dict[str, tuple[str, float]] = {}
    for entry in _store().entries(str(conversation_id)):
        if entry.expires_at <= now:
            continue
        current = members.get(entry.member)
        if current is None or _RANK[entry.state] > _RANK[current[0]]:
            members[entry.member] = (entry.state, entry.expires_at)
    return members


def presence_member_state(*, conversation_id: str, member_id: str) -> tuple[str, float]:
    """One member's strongest state in a conversation (``idle``, 0 when absent)."""
    return presence_members(conversation_id=conversation_id).get(str(member_id), (IDLE, 0.0))


def members_typing(*, conversation_id, exclude_member_id=None) -> list[str]:
    """Ids of the members typing in a conversation, other than ``exclude_member_id``."""
    exclude = str(exclude_member_id) if exclude_member_id is not None else None
    return sorted(
        member
        for member, (state, _) in presence_members(conversation_id=str(conversation_id)).items()
        if state == TYPING and member != exclude
    )


def presence_reset() -> None:
    """Forget every presence (tests)."""
    _store().clear()
