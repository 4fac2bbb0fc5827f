"""What a process remembers for a moment of rows read on every request or every commit.

- Credentials and the actors they make. Every API request resolved its bearer token (one
  query) and its membership in the workspace of the URL (another), and a page read cost
  little more than that.
- The active webhook subscriptions of a workspace, which every transaction that records
  events reads after its commit to queue their deliveries; a send records two.

A process keeps what it read for ``CAUSERIE_AUTH_CACHE_SECONDS`` (5 by default).

What a cached entry may miss, and for how long:

- a change saved through the models (revoking a key or a token, removing a member,
  changing a role, deactivating a user, changing a workspace's settings, creating,
  changing or deleting a webhook subscription) empties the cache of the process that
  made it, at once and again when its transaction commits: the next request there sees
  the change;
- other processes see it within ``CAUSERIE_AUTH_CACHE_SECONDS``, when their entry
  expires. That is the bound on a revocation's delay (README, "API keys"), and on how
  late a new subscription's first events are queued by another process: the webhook
  sweep, every 5 s, queues a subscription that is behind whatever a process remembers.

Refusals are never cached: a revoked, expired, unknown or malformed token is looked up
every time. An expiry time is checked on every request, cached or not.
"""

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

T = TypeVar("T")

# Beyond this many entries a process drops them all rather than grow (a new token or
# workspace per request would otherwise fill memory); the next requests fill it again.
MAX_ENTRIES = 10_000

_entries: dict[tuple, tuple[float, Any]] = {}
_lock = threading.Lock()


def remembered(key: tuple, build: Callable[[], T]) -> T:
    """``build()``, or what it returned for ``key`` less than the cache's seconds ago.

    An exception from ``build`` propagates and nothing is remembered.
    """
    seconds = settings.CAUSERIE_AUTH_CACHE_SECONDS
    if seconds <= 0:
        return build()
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and entry[0] > now:
        return entry[1]
    value = build()
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (now + seconds, value)
    return value


def remembered_forget() -> None:
    """Forget everything this process remembers (after a change)."""
    with _lock:
        _entries.clear()


def _forget_now_and_after_commit(**_kwargs) -> None:
    # At once, so that the request that made the change sees it; after the commit too, so
    # that a request of another thread cannot keep the state read before it.
    remembered_forget()
    transaction.on_commit(remembered_forget)


def connect_signals() -> None:
    """Empty the cache whenever a model it remembers rows of is saved or deleted."""
    from django.contrib.auth import get_user_model

    from .models import ApiKey, Membership, PersonalToken, WebhookSubscription, Workspace

    remembered_models = (
        ApiKey,
        PersonalToken,
        Membership,
        Workspace,
        get_user_model(),
        WebhookSubscription,
    )
    for model in remembered_models:
        for signal in (post_save, post_delete):
            signal.connect(
                _forget_now_and_after_commit,
                sender=model,
                dispatch_uid=f"process_cache_{signal is post_save}_{model.__name__}",
            )
