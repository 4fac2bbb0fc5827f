"""The realtime inbox: ``/ws/v1/inbox/`` (protocol in README.md, "Realtime inbox").

One connection subscribes to one workspace. Every event committed there reaches the
connection through the channel layer group of the workspace (``crm.realtime``); the
connection replays what it missed from the event log, then streams, in ``seq`` order,
exactly once, only what its member may see through the REST API.

Structure, and why:

- The channel-layer handlers never wait: they put messages into a bounded per-connection
  queue. A single *pump* task drains it, orders events by ``seq``, drops duplicates, fills
  gaps from the event log, filters, and writes to the socket. A client that reads too
  slowly fills its own queue and is closed with the resync code; it never holds up the
  process's other connections, nor the publisher.
- The seam between replay and live: the connection joins the group *before* reading the
  log, so an event is either in the log read or arrives live after it (or both: the
  cursor drops the second copy). Events of one workspace can be published out of order by
  different processes, so a live event ahead of the cursor waits briefly for the missing
  ones, which are then read from the log. A periodic check against the log's last ``seq``
  also catches a publication lost between commit and the channel layer.
- Presence is ephemeral (``conversations.presence``) and goes through the same group.
"""

import asyncio
import contextlib
import contextvars
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework import exceptions as drf_exceptions

from crm.actors import Actor
from crm.authentication import ApiKeyUser, BearerTokenAuthentication
from crm.exceptions import NotFound, TooManyAttempts
from crm.realtime import workspace_group
from crm.selectors import actor_for_request
from crm.services.auth_guard import failures_counted
from crm.services.realtime_tickets import TicketRefused, realtime_ticket_consume
from crm.times import iso

from . import presence
from .realtime import (
    EventFilter,
    event_log_last_seq,
    event_log_page,
    realtime_setting,
    subscription_start,
)
from .selectors import conversation_get

logger = logging.getLogger(__name__)

# Close codes (documented in README.md). 4000-4999 are the application's to define.
CLOSE_UNAUTHENTICATED = 4001  # no credential, or a bad/expired/revoked bearer token
CLOSE_TICKET_INVALID = 4002  # unknown ticket
CLOSE_TICKET_EXPIRED = 4003  # ticket older than 60 s
CLOSE_TICKET_USED = 4004  # ticket already spent: tickets are single use
CLOSE_HEARTBEAT_TIMEOUT = 4008  # the client stayed silent past the heartbeat timeout
CLOSE_RESYNC = 4009  # the client fell behind (queue overflow): reload, then resubscribe
CLOSE_THROTTLED = 4029  # too many failed credentials from this address: wait, then retry
TICKET_CLOSE_CODES = {
    "invalid": CLOSE_TICKET_INVALID,
    "expired": CLOSE_TICKET_EXPIRED,
    "used": CLOSE_TICKET_USED,
}
REPLAY_PAGE = 500
# Every connection of a process that may see an event sends the same text: the envelopes
# of the latest events are encoded once per process (keyed by event id, never reused).
ENCODED_KEPT = 256
_encoded: OrderedDict[str, str] = OrderedDict()


def _envelope_text(envelope: dict) -> str:
    """The envelope as JSON text, encoded once per process for all its connections."""
    key = envelope["id"]
    text = _encoded.get(key)
    if text is None:
        text = json.dumps(envelope)
        _encoded[key] = text
        if len(_encoded) > ENCODED_KEPT:
            _encoded.popitem(last=False)
    return text


class _Refused(Exception):
    def __init__(self, code: int, reason: str, error: str = "unauthenticated", details=None):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.error = error
        self.details = details or {}


class _Overflow(Exception):
    """The connection's queue is full: the client reads slower than events arrive."""


def _authenticate(scope: dict) -> tuple[Any, str | None, Any]:
    """The connection's user (or ``ApiKeyUser``), the workspace a ticket binds it to, and
    the credential to re-check while the connection lives (an API key or personal token).
    """
    client = (scope.get("client") or ("", 0))[0] or ""
    try:
        with failures_counted(client=client, refusals=(_Refused,)):
            return _authenticate_credential(scope)
    except TooManyAttempts as refused:
        raise _Refused(
            CLOSE_THROTTLED, "too many failed attempts", "throttled", refused.details
        ) from None


def _authenticate_apart(scope: dict) -> tuple[Any, str | None, Any]:
    """``_authenticate`` in a copy of the context, whose cache clients end with the call.

    Django keeps its cache clients per asyncio context, and ``database_sync_to_async``
    hands what a call set back to the connection's context: the failure counter's Redis
    client would stay open for as long as the websocket, one per connection.
    """
    return contextvars.copy_context().run(_authenticate, scope)


def _authenticate_credential(scope: dict) -> tuple[Any, str | None, Any]:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tickets = query.get("ticket")
    if tickets:
        try:
            ticket = realtime_ticket_consume(ticket=tickets[0])
        except TicketRefused as refused:
            raise _Refused(TICKET_CLOSE_CODES[refused.reason], f"ticket {refused.reason}") from None
        if ticket.api_key is not None:
            if not ticket.api_key.is_usable():
                raise _Refused(CLOSE_UNAUTHENTICATED, "api key revoked or expired")
            return ApiKeyUser(ticket.api_key), ticket.workspace.slug, ticket.api_key
        if ticket.user is None or not ticket.user.is_active:
            raise _Refused(CLOSE_UNAUTHENTICATED, "user inactive")
        return ticket.user, ticket.workspace.slug, None
    headers = dict(scope.get("headers") or [])
    header = headers.get(b"authorization", b"").decode("latin-1")
    keyword, _, token = header.partition(" ")
    if keyword.lower() != "bearer" or not token.strip():
        raise _Refused(CLOSE_UNAUTHENTICATED, "no credential")
    try:
        user, credential = BearerTokenAuthentication().authenticate_token(token.strip())
    except drf_exceptions.AuthenticationFailed as failed:
        raise _Refused(CLOSE_UNAUTHENTICATED, str(failed.detail)) from None
    return user, None, credential


def _actor_for(user: Any, slug: str) -> Actor:
    if isinstance(user, ApiKeyUser):
        user.api_key.refresh_from_db(fields=["revoked_at", "expires_at"])
        if not user.api_key.is_usable():
            raise NotFound("No such workspace.")
    return actor_for_request(user=user, workspace_slug=slug)


def _actor_recheck(user: Any, slug: str, credential: Any) -> Actor | None:
    """The connection's actor now, or None if its credential or membership is gone."""
    if credential is not None:
        credential.refresh_from_db(fields=["revoked_at", "expires_at"])
        if not credential.is_usable():
            return None
    try:
        return _actor_for(user, slug)
    except NotFound:
        return None


def _tick_read(
    user: Any, credential: Any, actor: Actor, event_filter: EventFilter | None
) -> tuple[Actor | None, EventFilter | None, frozenset[str] | None, int]:
    """A heartbeat tick's reads, in one trip to the database thread, changing nothing.

    The connection's actor now (None once its access is gone); a new event filter if its
    role or scopes changed, else None with the restricted agent's teams now (None when
    unrestricted); and the event log's last ``seq``.
    """
    now = _actor_recheck(user, actor.workspace.slug, credential)
    if now is None:
        return None, None, None, 0
    last_seq = event_log_last_seq(workspace_id=now.workspace.pk)
    if (now.role, now.scopes) != (actor.role, actor.scopes):
        return now, EventFilter(now, private_notes_to_members_only=True), None, last_seq
    restricted = event_filter is not None and event_filter.restricted
    return actor, None, event_filter.teams_read() if restricted else None, last_seq


class InboxConsumer(AsyncJsonWebsocketConsumer):
    """One client of the realtime inbox (see the module docstring)."""

    # --- settings (read per connection so that tests can change them) -------------------

    def _settings(self) -> None:
        self.queue_size = int(realtime_setting("CAUSERIE_REALTIME_QUEUE_SIZE", 1000))
        self.heartbeat_interval = float(
            realtime_setting("CAUSERIE_REALTIME_HEARTBEAT_INTERVAL", 20.0)
        )
        self.heartbeat_timeout = float(
            realtime_setting("CAUSERIE_REALTIME_HEARTBEAT_TIMEOUT", 60.0)
        )
        self.gap_wait = float(realtime_setting("CAUSERIE_REALTIME_GAP_WAIT", 1.0))

    # --- connection ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Authenticate (ticket or bearer header); close with a documented code if refused."""
        self._settings()
        self.user: Any = None
        self.bound_slug: str | None = None
        self.credential: Any = None
        self.actor: Actor | None = None
        self.event_filter: EventFilter | None = None
        self.group: str | None = None
        self.cursor: int | None = None
        self.closing = False
        self.last_heard = time.monotonic()
        self.presence_states: dict[str, str] = {}  # conversation id -> this connection's state
        self.presence_refreshed = time.monotonic()
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=self.queue_size)
        self.tasks: list[asyncio.Task] = []
        # Custom close codes exist only on an accepted socket (a refusal before accepting
        # is an HTTP 403 without a reason), so accept, then close when authentication fails.
        await self.accept()
        try:
            self.user, self.bound_slug, self.credential = await database_sync_to_async(
                _authenticate_apart
            )(self.scope)
        except _Refused as refused:
            await self.send_json(
                {
                    "type": "error",
                    "code": refused.error,
                    "message": refused.reason,
                    "details": refused.details,
                }
            )
            await self.close(code=refused.code)
            return
        self.tasks = [
            asyncio.create_task(self._pump()),
            asyncio.create_task(self._heartbeat()),
        ]

    async def disconnect(self, code: int) -> None:
        """Stop the tasks, leave the group, and withdraw this connection's presence."""
        self.closing = True
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        for conversation_id in list(self.presence_states):
            with contextlib.suppress(Exception):
                await self._presence_change(conversation_id, presence.IDLE)

    async def _close(self, code: int, message: dict | None = None) -> None:
        """Close from a background task, even if the client no longer reads."""
        if self.closing:
            return
        self.closing = True
        await self._close_now(code, message)

    async def _close_now(self, code: int, message: dict | None) -> None:
        # A client that stopped reading may never take the last message: bound each step.
        if message is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send_json(message), timeout=1.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.close(code=code), timeout=2.0)

    async def dispatch(self, message: dict) -> None:
        """Run the message's handler, without Channels' database hop before each one.

        Channels closes stale database connections before every handler, in the process's
        single sync thread: with N connections, N thread hops per event, queued behind the
        REST requests that thread also serves (the fan-out benchmark measured it as most
        of the latency). This consumer reads the database only through
        ``database_sync_to_async``, which closes stale connections around each call.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- from the client ----------------------------------------------------------------------

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if text_data is None:
            await self._error("bad_message", "Messages are JSON text.")
            return
        await super().receive(text_data=text_data, **kwargs)

    async def receive_json(self, content: Any, **kwargs) -> None:
        """Client messages: subscribe, presence, ping, pong."""
        if self.user is None:
            return
        self.last_heard = time.monotonic()
        if not isinstance(content, dict):
            await self._error("bad_message", "Messages are JSON objects with a type.")
            return
        kind = content.get("type")
        if kind == "pong":
            await self._presence_keepalive()
        elif kind == "ping":
            self._enqueue(("send", {"type": "pong"}))
        elif kind == "subscribe":
            await self._subscribe(content)
        elif kind == "presence":
            await self._presence(content)
        else:
            await self._error("unknown_type", "Unknown message type.", {"type": kind})

    async def _error(self, code: str, message: str, details: dict | None = None) -> None:
        self._enqueue(
            ("send", {"type": "error", "code": code, "message": message, "details": details or {}})
        )

    # --- subscribe ----------------------------------------------------------------------------

    async def _subscribe(self, content: dict) -> None:
        if self.group is not None:
            await self._error("already_subscribed", "This connection is already subscribed.")
            return
        slug = content.get("workspace")
        after = content.get("after")
        if not isinstance(slug, str) or not slug:
            await self._error("validation_error", "workspace is a slug.", {"workspace": slug})
            return
        if after is not None and (
            not isinstance(after, int) or isinstance(after, bool) or after < 0
        ):
            await self._error("validation_error", "after is a seq or null.", {"after": after})
            return
        if self.bound_slug is not None and slug != self.bound_slug:
            await self._error("not_found", "No such workspace.")
            return
        try:
            actor = await database_sync_to_async(_actor_for)(self.user, slug)
        except NotFound:
            await self._error("not_found", "No such workspace.")
            return
        self.actor = actor
        self.event_filter = await database_sync_to_async(EventFilter)(
            actor, private_notes_to_members_only=True
        )
        # Join before reading the log: from here on, every committed event either is in
        # what the replay reads or arrives live afterwards.
        self.group = workspace_group(actor.workspace.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        start = await database_sync_to_async(subscription_start)(
            workspace=actor.workspace, after=after
        )
        if start.resync_reason is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
            self._enqueue(("send", self._resync_message(start.resync_reason, start.last_seq)))
            return
        self._enqueue(
            (
                "send",
                {
                    "type": "subscribed",
                    "workspace": slug,
                    "after": start.after,
                    "member": str(actor.membership.pk) if actor.membership else None,
                },
            )
        )
        self._enqueue(("start", start.after))

    @staticmethod
    def _resync_message(reason: str, last_seq: int) -> dict:
        return {"type": "resync", "reason": reason, "seq": last_seq}

    # --- from the channel layer (never wait here) -----------------------------------------------

    async def event_committed(self, message: dict) -> None:
        """A committed event of the workspace."""
        self._enqueue(("event", message["event"]))

    async def events_committed(self, message: dict) -> None:
        """The events of one commit of the workspace, in seq order (``crm.realtime``)."""
        for envelope in message["events"]:
            self._enqueue(("event", envelope))

    async def presence_changed(self, message: dict) -> None:
        """Someone's presence in a conversation changed (possibly this connection's)."""
        if message.get("connection") == self.channel_name or self.actor is None:
            return
        if self.actor.membership is None or message.get("member") == str(self.actor.membership.pk):
            return  # presence is for members, about other members
        self._enqueue(("presence", message))

    def _enqueue(self, item: tuple[str, Any]) -> None:
        if self.closing:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self._overflow()

    def _overflow(self) -> None:
        if self.closing:
            return
        self.closing = True
        logger.info("realtime connection %s overflowed its queue; closing", self.channel_name)
        last = self.cursor or 0
        for task in self.tasks:
            task.cancel()
        self.tasks.append(
            asyncio.create_task(
                self._close_now(CLOSE_RESYNC, self._resync_message("overflow", last))
            )
        )

    # --- the pump: the only writer of events ----------------------------------------------------

    async def _pump(self) -> None:
        pending: dict[int, dict] = {}
        db_last_at_tick: int | None = None
        try:
            while True:
                timeout = self.gap_wait if pending else None
                try:
                    kind, payload = await asyncio.wait_for(self.queue.get(), timeout)
                except TimeoutError:
                    # A later event arrived but its predecessors did not: read them.
                    await self._catch_up(until=min(pending) - 1)
                    kind, payload = "flush", None
                if kind == "send":
                    await self.send_json(payload)
                elif kind == "start":
                    self.cursor = payload
                    pending.clear()
                    await self._catch_up(until=None)
                elif kind == "event" and self.cursor is not None:
                    seq = payload["seq"]
                    if seq > self.cursor:
                        pending[seq] = payload
                elif kind == "presence":
                    await self._send_presence(payload)
                elif kind == "tick" and self.cursor is not None and self.actor is not None:
                    # A revoked key, a removed member, a new role or new teams reach open
                    # connections (read by the heartbeat, applied here: one writer).
                    actor, event_filter, teams, last_seq = payload
                    if actor is None:
                        await self._close(
                            CLOSE_UNAUTHENTICATED,
                            {
                                "type": "error",
                                "code": "unauthenticated",
                                "message": "Access was revoked.",
                            },
                        )
                        return
                    if event_filter is not None:
                        self.actor, self.event_filter = actor, event_filter
                    elif teams is not None and self.event_filter is not None:
                        self.event_filter.teams_set(teams)
                    # Events committed before the previous tick must have arrived by now;
                    # if not, their publication was lost: read them from the log.
                    if db_last_at_tick is not None and db_last_at_tick > self.cursor:
                        await self._catch_up(until=db_last_at_tick)
                    db_last_at_tick = last_seq
                if self.cursor is not None:
                    for seq in [s for s in pending if s <= self.cursor]:
                        del pending[seq]
                    while self.cursor + 1 in pending:
                        await self._deliver(pending.pop(self.cursor + 1))
                    if len(pending) > self.queue_size:
                        raise _Overflow
        except _Overflow:
            self._overflow()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("realtime pump failed")
            await self._close(1011)

    async def _catch_up(self, *, until: int | None) -> None:
        """Deliver events from the log after the cursor (up to ``until``), in order."""
        assert self.actor is not None
        assert self.cursor is not None
        while until is None or self.cursor < until:
            page = await database_sync_to_async(event_log_page)(
                workspace=self.actor.workspace, after=self.cursor, until=until, limit=REPLAY_PAGE
            )
            for envelope in page:
                await self._deliver(envelope)
            if len(page) < REPLAY_PAGE:
                return

    async def _deliver(self, envelope: dict) -> None:
        """Move the cursor past an event and send it if the member may see it."""
        self.cursor = envelope["seq"]
        if await self._visible(envelope):
            await self.send(text_data=_envelope_text(envelope))

    async def _visible(self, envelope: dict) -> bool:
        assert self.event_filter is not None
        decided = self.event_filter.decide_without_query(envelope["type"], envelope["data"])
        if decided is not None:
            return decided
        return await database_sync_to_async(self.event_filter.visible)(
            envelope["type"], envelope["data"]
        )

    # --- heartbeat ----------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        # Each tick reads the database; connections opened together (a deploy, a network
        # blip) would otherwise all tick at once and hold up the process's deliveries.
        await asyncio.sleep(random.uniform(0, self.heartbeat_interval))
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            if time.monotonic() - self.last_heard > self.heartbeat_timeout:
                await self._close(CLOSE_HEARTBEAT_TIMEOUT)
                return
            self._enqueue(("send", {"type": "ping"}))
            if self.cursor is not None and self.actor is not None:
                # Read here, not in the pump, so that events keep flowing meanwhile.
                try:
                    read = await database_sync_to_async(_tick_read)(
                        self.user, self.credential, self.actor, self.event_filter
                    )
                except Exception:
                    logger.exception("realtime heartbeat reads failed")
                    await self._close(1011)
                    return
                self._enqueue(("tick", read))

    # --- presence -----------------------------------------------------------------------------

    async def _presence(self, content: dict) -> None:
        if self.actor is None:
            await self._error("not_subscribed", "Subscribe to a workspace first.")
            return
        if self.actor.membership is None:
            await self._error("members_only", "Presence is for members, not API keys.")
            return
        state = content.get("state")
        if state not in presence.STATES:
            await self._error(
                "validation_error", "state is viewing, typing or idle.", {"state": state}
            )
            return
        conversation_id = str(content.get("conversation") or "")
        try:
            conversation = await database_sync_to_async(conversation_get)(
                actor=self.actor, conversation_id=conversation_id
            )
        except NotFound:
            await self._error(
                "not_found", "No such conversation.", {"conversation": conversation_id}
            )
            return
        conversation_id = str(conversation.pk)
        first_time = conversation_id not in self.presence_states
        await self._presence_change(conversation_id, state)
        if first_time and state != presence.IDLE:
            # Show the newcomer who is already there.
            others = await database_sync_to_async(presence.presence_members)(
                conversation_id=conversation_id
            )
            me = str(self.actor.membership.pk)
            for member, (other_state, expires_at) in others.items():
                if member != me:
                    self._enqueue(
                        (
                            "send",
                            _presence_message(conversation_id, member, other_state, expires_at),
                        )
                    )

    async def _presence_change(self, conversation_id: str, state: str) -> None:
        """Store this connection's state and tell the workspace the member's overall state."""
        assert self.actor is not None
        assert self.actor.membership is not None
        member_id = str(self.actor.membership.pk)
        await database_sync_to_async(presence.presence_set)(
            conversation_id=conversation_id,
            connection=self.channel_name,
            member_id=member_id,
            state=state,
        )
        if state == presence.IDLE:
            self.presence_states.pop(conversation_id, None)
        else:
            self.presence_states[conversation_id] = state
        # Another tab of the same member may still be typing: broadcast the strongest.
        overall, expires_at = await database_sync_to_async(presence.presence_member_state)(
            conversation_id=conversation_id, member_id=member_id
        )
        await self.channel_layer.group_send(
            workspace_group(self.actor.workspace.pk),
            {
                "type": "presence.changed",
                "conversation": conversation_id,
                "member": member_id,
                "state": overall,
                "expires_at": expires_at,
                "connection": self.channel_name,
            },
        )

    async def _presence_keepalive(self) -> None:
        """A live client keeps its presence: refresh it before it lapses."""
        if not self.presence_states:
            return
        if time.monotonic() - self.presence_refreshed < presence.presence_ttl() / 3:
            return
        self.presence_refreshed = time.monotonic()
        for conversation_id, state in list(self.presence_states.items()):
            await self._presence_change(conversation_id, state)

    async def _send_presence(self, message: dict) -> None:
        assert self.event_filter is not None
        conversation_id = message["conversation"]
        visible = await _maybe_sync(
            self.event_filter.restricted, self.event_filter.conversation_visible, conversation_id
        )
        if visible:
            await self.send_json(
                _presence_message(
                    conversation_id, message["member"], message["state"], message["expires_at"]
                )
            )


def _presence_message(conversation_id: str, member: str, state: str, expires_at: float) -> dict:
    """The presence message of API.md, with when it lapses unless refreshed."""
    return {
        "type": "presence",
        "conversation": conversation_id,
        "member": member,
        "state": state,
        "expires_at": (
            iso(datetime.fromtimestamp(expires_at, tz=UTC))
            if state != presence.IDLE and expires_at
            else None
        ),
    }


async def _maybe_sync(needs_db: bool, function: Callable[..., Any], *args: Any) -> Any:
    """Call ``function`` inline, or in a thread when it may read the database."""
    if needs_db:
        return await database_sync_to_async(function)(*args)
    return function(*args)
