"""Sending the agents' replies through the platforms' APIs.

A reply is stored ``queued`` by the conversations app; after commit a task sends it here.
The message is moved to ``sending`` in its own committed transaction *before* the
platform is called, with its ``client_ref`` (sent to the platforms that echo it back):
if the worker dies during the call, the retried task finds ``sending`` and does not call
again, so a reply is never sent twice. Echoes and status webhooks then confirm it; one
that nobody confirms is marked failed by ``outbound_stale_sweep`` after a grace period.

A reply whose task was lost before it ran (a worker killed with the task reserved, a
broker restarted empty, a broker down when the reply was queued) is still ``queued``:
``outbound_queued_sweep`` queues it again. Each queued or retrying task holds a short
lease in the cache so that the sweep leaves alone the replies a task is already on (and
the ones waiting out a platform's rate limit).
"""

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from contacts.models import Identity
from conversations.models import Conversation, Message
from conversations.services.messages import message_locked, message_status_set
from crm.transactions import atomic_outlasting_outage, atomic_retrying
from crm.webhooks.ssrf import UnsafeUrl, target_resolve

from ..adapters import (
    Attachment,
    AuthError,
    OutboundReply,
    PolicyError,
    RateLimited,
    TransientError,
    get_adapter,
)
from ..credentials import SITE_PLATFORMS
from ..models import BrandAccount

logger = logging.getLogger(__name__)

# An outcome not confirmed within this time after the call started is unknown for good.
SENDING_GRACE = timedelta(minutes=10)
# A send the platform took is recorded through a database outage as long as this (a
# restart of PostgreSQL); the worker has nothing else it could do meanwhile.
SENT_RECORD_PATIENCE = 120.0
# A send task holds its reply for this long past its planned start (its lease); a reply
# still queued past QUEUED_GRACE with no lease lost its task and is queued again.
SEND_LEASE_SECONDS = 20
QUEUED_GRACE = timedelta(seconds=15)
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


_client: httpx.Client | None = None
_client_pid = 0
_client_lock = threading.Lock()


def platform_client() -> httpx.Client:
    """The process's HTTP client for the platforms' APIs, shared by every send.

    Creating an httpx client loads the CA bundle (about 100 ms per send when the outbound
    benchmark measured it), and a shared one keeps connections to the platform alive.
    Made lazily in each process (Celery's prefork children get their own after the
    fork); an httpx client is safe to share between threads (the sends worker's).
    """
    global _client, _client_pid
    with _client_lock:
        if _client is None or _client_pid != os.getpid():
            _client = httpx.Client(timeout=HTTP_TIMEOUT)
            _client_pid = os.getpid()
        return _client


@dataclass(frozen=True)
class RetryLater(Exception):
    """The send must be retried after ``seconds`` (rate limit or transient failure).

    ``own_limit``: held back by the account's own send limit, not refused by anyone; the
    wait is until its slot would be near enough to wait for, and waiting is never a failure.
    """

    seconds: float
    reason: str
    own_limit: bool = False


def platform_base_url(account: BrandAccount) -> str:
    """The API base URL of the account's platform, from settings (emulator or real).

    A forum or blog is a site of its own: its base URL is the account's ``external_id``,
    whose scheme and host the platform's setting replaces when set (the emulator).
    """
    platform = account.platform
    if platform in SITE_PLATFORMS:
        return site_base_url(account.external_id, _site_override(platform))
    if platform in ("facebook", "whatsapp"):
        return settings.CAUSERIE_GRAPH_API_URL
    if platform == "instagram":
        # Instagram Login tokens (IG...) talk to graph.instagram.com; Facebook Login
        # tokens to the Graph API.
        token = str(account.credentials.get("access_token", ""))
        if token.startswith("IG"):
            return settings.CAUSERIE_INSTAGRAM_API_URL
        return settings.CAUSERIE_GRAPH_API_URL
    return {
        "x": settings.CAUSERIE_X_API_URL,
        "telegram": settings.CAUSERIE_TELEGRAM_API_URL,
        "youtube": settings.CAUSERIE_YOUTUBE_API_URL,
    }.get(platform, "")


def _site_override(platform: str) -> str:
    return {
        "discourse": settings.CAUSERIE_DISCOURSE_API_URL,
        "wordpress": settings.CAUSERIE_WORDPRESS_API_URL,
    }[platform]


def account_target_problem(account: BrandAccount) -> tuple[str, str] | None:
    """``(code, reason)`` when the address the workspace gave may not be called.

    The api channel's ``callback_url`` and a forum's or blog's own address come from the
    workspace, not the operator: they get the SSRF guard of outbound webhooks, checked at
    each use since a name may resolve elsewhere since it was saved. An operator's
    override of a site's host (the emulator) is trusted like any platform base URL.
    """
    if account.platform == "api":
        url, code = str(account.credentials.get("callback_url", "")), "unsafe_callback_url"
    elif account.platform in SITE_PLATFORMS and not _site_override(account.platform):
        url, code = account.external_id, "unsafe_site_url"
    else:
        return None
    try:
        target_resolve(url)
    except UnsafeUrl as exc:
        return code, str(exc)
    return None


def site_base_url(external_id: str, override: str = "") -> str:
    """A site's base URL, its scheme and host replaced by ``override`` when given."""
    if not override:
        return external_id.rstrip("/")
    return override.rstrip("/") + urlsplit(external_id).path.rstrip("/")


# Sends of one account are spaced by (1 + SEND_SLACK) / L seconds: any L + 1 of them span
# more than a second even when one reached the platform up to SEND_SLACK later than its
# slot (a late wake-up, the request's own way out) and the next one on time.
SEND_SLACK = 0.1
# A worker waits in place for a slot at most this far away; a reply whose slot is further
# is re-queued rather than holding a worker process idle.
SEND_WAIT_BOUND = 1.0
# A worker waking later than this after its slot takes a new one (the old stays a gap).
SEND_LATE = SEND_SLACK / 2

# KEYS[1]: the account's next free slot in microseconds of the Redis clock, shared by
# every worker on every host. ARGV: the spacing and the bound, in microseconds.
# Returns {1, µs until the slot reserved} or {0, µs until a slot would be within bound}.
_SLOT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, free)
local bound = tonumber(ARGV[2])
if slot - now > bound then
  return {0, slot - now - bound}
end
local after = slot + tonumber(ARGV[1])
local ttl = math.floor((after - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', ttl)
return {1, slot - now}
"""


class _LocalSlots:
    """The slot schedule of a process without Redis (the embedded, single-process mode)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[str, float] = {}

    def reserve(self, key: str, spacing: float, bound: float) -> tuple[bool, float]:
        with self._lock:
            now = time.time()
            slot = max(now, self._free.get(key, 0.0))
            if slot - now > bound:
                return False, slot - now - bound
            self._free[key] = slot + spacing
            return True, slot - now


class _RedisSlots:
    """The slot schedule in Redis, reserved atomically by a script on Redis's own clock."""

    def __init__(self, url: str) -> None:
        import redis

        self._script = redis.Redis.from_url(url).register_script(_SLOT_SCRIPT)

    def reserve(self, key: str, spacing: float, bound: float) -> tuple[bool, float]:
        reserved, micros = self._script(
            keys=[key], args=[round(spacing * 1_000_000), round(bound * 1_000_000)]
        )
        return bool(reserved), int(micros) / 1_000_000


@lru_cache(maxsize=1)
def _slots() -> _LocalSlots | _RedisSlots:
    url = getattr(settings, "REDIS_URL", "")
    return _RedisSlots(url) if url else _LocalSlots()


def send_slot_reserve(*, account: BrandAccount) -> float:
    """Reserve the account's next send slot; the time it is due (``time.monotonic()``).

    With ``CAUSERIE_SEND_RATE_<PLATFORM>`` = L, each send reserves the slot
    ``(1 + SEND_SLACK) / L`` seconds after the account's previous one, in Redis shared by
    every worker: the platform never receives more than L sends within any one second,
    however the sends fall across the workers' clock seconds. Without a limit the slot is
    now. Raises RetryLater (``own_limit``) when the next slot is further than
    ``SEND_WAIT_BOUND``, with the time until it is near enough; nothing is reserved then.
    """
    limit = settings.CAUSERIE_SEND_RATE_LIMITS.get(account.platform)
    if not limit:
        return time.monotonic()
    key = f"causerie:send-slot:{account.pk}"
    reserved, seconds = _slots().reserve(key, (1 + SEND_SLACK) / limit, SEND_WAIT_BOUND)
    if not reserved:
        raise RetryLater(max(0.05, seconds), "rate limit of the brand account", own_limit=True)
    return time.monotonic() + seconds


def send_slot_keep(*, account: BrandAccount, due: float) -> None:
    """Wait until the slot reserved for ``due``; send right after.

    Woken more than ``SEND_LATE`` after it (an overloaded host), the send takes the next
    free slot instead, the late one staying a gap, so that no two sends reach the platform
    closer than their slots allow. Raises RetryLater as ``send_slot_reserve`` does, or
    after three late wake-ups.
    """
    if not settings.CAUSERIE_SEND_RATE_LIMITS.get(account.platform):
        return
    for _ in range(3):
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        if time.monotonic() - due <= SEND_LATE:
            return
        due = send_slot_reserve(account=account)
    raise RetryLater(0.05, "woken late for the rate limit's slots", own_limit=True)


def _recipient(conversation: Conversation, account: BrandAccount) -> str | None:
    # Telegram chats and api threads are addressed by the thread, not by the person.
    if account.platform in ("telegram", "api"):
        parts = conversation.thread_key.split(":")
        return parts[1] if len(parts) > 1 else None
    identity = (
        Identity.objects.filter(contact_id=conversation.contact_id, platform=account.platform)
        .order_by("-brand_account_id")
        .first()
    )
    return identity.external_id if identity else None


def _parent_external_id(message: Message) -> str | None:
    if message.parent_id and message.parent.external_id:
        return message.parent.external_id
    if message.conversation.kind in ("comment_thread", "mention", "email"):
        # A public reply answers the customer's latest comment of the thread.
        last = (
            Message.objects.filter(conversation_id=message.conversation_id, direction="inbound")
            .exclude(external_id="")
            .order_by("-received_at", "-created_at")
            .first()
        )
        return last.external_id if last else None
    return None


def outbound_reply_build(message: Message) -> OutboundReply:
    """The adapter's view of a stored reply."""
    conversation = message.conversation
    account = conversation.brand_account
    thread_parts = conversation.thread_key.split(":", 1)
    return OutboundReply(
        thread_key=conversation.thread_key,
        recipient_external_id=_recipient(conversation, account),
        conversation_kind=conversation.kind,
        text=message.text or None,
        parent_external_id=_parent_external_id(message),
        root_external_id=thread_parts[1] if len(thread_parts) > 1 else None,
        attachments=tuple(
            Attachment(
                kind=a.get("kind", "file"),
                url=a.get("url"),
                mime=a.get("mime"),
                size=a.get("size"),
                caption=a.get("caption"),
            )
            for a in message.attachments
        ),
        client_ref=message.client_ref or None,
        tag=message.message_tag or None,
        subject=conversation.subject or None,
    )


def _claim(message_id) -> Message | None:
    """Move a queued reply to ``sending`` and commit, or None if it is not queued."""
    return atomic_retrying(lambda: _claim_in_transaction(message_id))


def _claim_in_transaction(message_id) -> Message | None:
    # One locked read, which the status change takes as it is: the send has already read
    # what the platform call needs.
    message = message_locked(message_id)
    if message is None or message.status != "queued" or message.private:
        return None
    return message_status_set(message=message, status="sending", locked=True)


def _requeue(message_id) -> None:
    Message.objects.filter(pk=message_id, status="sending").update(status="queued")


def _status_of(message_id) -> str:
    current = Message.objects.filter(pk=message_id).values_list("status", flat=True).first()
    return current or "missing"


def _fail(message_id, error: dict) -> str:
    """Fail a queued reply without calling the platform; its status after."""
    message = _claim(message_id)
    if message is None:
        return _status_of(message_id)
    message_status_set(message=message, status="failed", error=error)
    return "failed"


def outbound_send(*, message_id, client: httpx.Client | None = None) -> str:
    """Send one queued reply; returns its final or current status.

    Raises RetryLater when the platform asked to slow down or failed transiently; the
    message is back in ``queued`` then, and the caller retries.
    """
    try:
        message = Message.objects.select_related("conversation__brand_account", "parent").get(
            pk=message_id
        )
    except Message.DoesNotExist:
        message = None
    if message is None or message.status != "queued" or message.private:
        return _status_of(message_id)
    account = message.conversation.brand_account
    if account is None or account.status == "disabled":
        return _fail(
            message_id,
            {"code": "brand_account_unavailable", "message": "The account is disconnected."},
        )
    problem = account_target_problem(account)
    if problem is not None:
        return _fail(message_id, {"code": problem[0], "message": problem[1]})
    reply = outbound_reply_build(message)
    # The process's client too is had before the slot (the first send of a process makes
    # it, ~100 ms): between a slot and the platform lies only the request itself.
    adapter = get_adapter(account.platform)
    base_url = platform_base_url(account)
    client = client or platform_client()
    # The slot is reserved before the claim (a reply held back by the limit stays
    # ``queued``) and waited for after it: from its slot to the platform a send takes only
    # the request's own way out, never the claim's transaction and its listeners, which
    # on a loaded host or among many threads can take longer than SEND_SLACK.
    due = send_slot_reserve(account=account)
    # Everything the call needs is read before the reply is marked ``sending``; a reply
    # that is then not sent (held back again, Redis failing) goes back to ``queued``.
    message = _claim(message_id)
    if message is None:
        return _status_of(message_id)
    try:
        send_slot_keep(account=account, due=due)
    except Exception:
        _requeue(message.pk)
        raise
    try:
        result = adapter.send(
            client,
            base_url=base_url,
            credentials=account.credentials,
            account_external_id=account.external_id,
            reply=reply,
        )
    except RateLimited as exc:
        _requeue(message.pk)
        raise RetryLater(exc.retry_after_seconds or 30.0, f"rate limited: {exc}") from exc
    except TransientError as exc:
        _requeue(message.pk)
        raise RetryLater(15.0, f"transient: {exc}") from exc
    except (PolicyError, AuthError) as exc:
        message_status_set(
            message=message,
            status="failed",
            error={"code": str(exc.code or ""), "message": exc.message or str(exc)},
        )
        if isinstance(exc, AuthError):
            BrandAccount.objects.filter(pk=account.pk).update(
                status="error", last_error=f"credentials refused: {exc.message or exc}"
            )
        return "failed"
    # The platform has it: recording that must not be lost to a deadlock or to a restart
    # of the database, or the reply would stay "sending" and be failed as an unknown
    # outcome.
    atomic_outlasting_outage(
        lambda: message_status_set(
            message=message, status="sent", external_id=result.external_message_id
        ),
        patience_seconds=SENT_RECORD_PATIENCE,
    )
    return "sent"


def _lease_key(message_id) -> str:
    return f"causerie:send-lease:{message_id}"


def outbound_send_lease(*, message_id, seconds: float = SEND_LEASE_SECONDS) -> None:
    """Note that a send task for this reply is queued or running for the next ``seconds``."""
    try:
        cache.set(_lease_key(message_id), 1, timeout=max(1, int(seconds + 0.999)))
    except Exception:
        # The cache is down: without the lease the sweep may queue a second task, which
        # finds the reply claimed or sent and does nothing.
        logger.warning("could not note the send lease of %s", message_id)


def outbound_send_queue(*, message_id) -> None:
    """Queue the send task of a reply, with its lease."""
    from crm.tasks import task_enqueue

    from ..tasks import send_reply_task

    outbound_send_lease(message_id=message_id)
    task_enqueue(send_reply_task, message_id=str(message_id))


def outbound_queued_sweep(*, now=None, limit: int = 1000) -> int:
    """Queue again the replies still ``queued`` whose send task was lost; return how many."""
    now = now or timezone.now()
    waiting = list(
        Message.objects.filter(
            direction="outbound",
            status="queued",
            private=False,
            created_at__lt=now - QUEUED_GRACE,
        ).values_list("pk", flat=True)[:limit]
    )
    if not waiting:
        return 0
    held = cache.get_many([_lease_key(pk) for pk in waiting])
    lost = [pk for pk in waiting if _lease_key(pk) not in held]
    for message_id in lost:
        outbound_send_queue(message_id=message_id)
    if lost:
        logger.warning("queued the send of %s replies again (their task was lost)", len(lost))
    return len(lost)


def outbound_stale_sweep(*, now=None) -> int:
    """Fail replies stuck in ``sending`` past the grace period (their outcome is unknown)."""
    now = now or timezone.now()
    stale = Message.objects.filter(status="sending", created_at__lt=now - SENDING_GRACE)
    count = 0
    for message in stale:
        message_status_set(
            message=message,
            status="failed",
            error={
                "code": "send_outcome_unknown",
                "message": "The send was interrupted; check the platform before resending.",
            },
        )
        count += 1
    return count
