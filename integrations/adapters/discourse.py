"""Discourse forums: topic and post webhooks in, replies through the posts API.

* Authenticity: ``X-Discourse-Event-Signature: sha256=<hex HMAC-SHA256(webhook secret, raw
  body)>``; the event name is in ``X-Discourse-Event`` (``post_created``, ``post_edited``,
  ``post_destroyed``, ``post_recovered``, ``topic_created``…).
* Payload: ``{"post": {...}}`` or ``{"topic": {...}}``. A topic is one comment thread
  (``topic:{topic_id}``; a personal message topic, ``topic_archetype`` ``private_message``,
  a direct conversation); each post a message whose id is ``{topic_id}/{post_number}``,
  since replies name their parent by ``reply_to_post_number``, not by post id. Topic
  events carry nothing a post event does not, and the forum's other events (users,
  likes, categories…) nothing to store: they parse to no event.
* Edits come as ``post_edited`` with the post's ``version``; a post whose ``deleted_at``
  is set, or ``post_destroyed``, is a deletion; ``post_recovered`` undoes it.
* Outbound: ``POST {site}/posts.json`` with ``topic_id``, ``raw`` and
  ``reply_to_post_number``, authenticated by the ``Api-Key`` and ``Api-Username``
  headers. A 429 carries ``Retry-After`` or ``extras.wait_seconds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from . import _http
from ._payload import (
    as_dict,
    compare,
    credential,
    from_iso,
    header,
    hmac_sha256,
    html_to_text,
    load_object,
    opt_int,
    opt_str,
    req_str,
)
from .base import (
    Adapter,
    AuthError,
    Channel,
    ConversationKind,
    Direction,
    EventType,
    NormalizedEvent,
    Origin,
    OutboundReply,
    PayloadError,
    PolicyError,
    RateLimited,
    SendResult,
)

SIGNATURE_HEADER = "X-Discourse-Event-Signature"
EVENT_HEADER = "X-Discourse-Event"
AVATAR_SIZE = "120"
# Discourse's post types: 1 regular, 2 moderator action, 3 small action, 4 whisper.
SMALL_ACTION = 3
_POST_EVENTS = frozenset({"post_created", "post_edited", "post_destroyed", "post_recovered"})


def post_external_id(topic_id: str, post_number: str) -> str:
    """A post's message id: its topic and its number there (what replies point at)."""
    return f"{topic_id}/{post_number}"


def avatar_url(site: str, template: str | None) -> str | None:
    """An absolute avatar URL from Discourse's ``avatar_template`` (``…/{size}/…``)."""
    if not template:
        return None
    url = template.replace("{size}", AVATAR_SIZE)
    if url.startswith("//"):
        return f"{site.split('://', 1)[0]}:{url}"
    if url.startswith("/"):
        return _http.join(site, url)
    return url


def _post_events(post: dict[str, Any], *, site: str, event: str) -> list[NormalizedEvent]:
    topic_id = req_str(post, "topic_id", "post")
    number = req_str(post, "post_number", "post")
    post_id = req_str(post, "id", "post")
    external_id = post_external_id(topic_id, number)
    version = opt_int(post, "version") or 1
    deleted_raw = post.get("deleted_at")
    created_raw = post.get("created_at")
    updated_raw = post.get("updated_at") or created_raw
    if event == "post_destroyed" or deleted_raw:
        kind, stamp_raw, key = EventType.MESSAGE_DELETED, deleted_raw or updated_raw, "deleted"
    elif event == "post_recovered":
        kind, stamp_raw, key = EventType.MESSAGE_RESTORED, updated_raw, f"recovered:{updated_raw}"
    elif event == "post_edited":
        kind, stamp_raw, key = EventType.MESSAGE_EDITED, updated_raw, f"v{version}"
    else:
        kind, stamp_raw, key = EventType.MESSAGE_CREATED, created_raw, "created"
    parent_number = opt_str(post, "reply_to_post_number")
    text = opt_str(post, "raw")
    if text is None and opt_str(post, "cooked"):
        text = html_to_text(post["cooked"])
    username = opt_str(post, "username")
    return [
        NormalizedEvent(
            channel=Channel.DISCOURSE,
            account_external_id=site,
            event_type=kind,
            direction=Direction.INBOUND,
            origin=Origin.CUSTOMER,
            # A personal message to the brand's forum user is a private conversation.
            conversation_kind=ConversationKind.DIRECT
            if post.get("topic_archetype") == "private_message"
            else ConversationKind.COMMENT_THREAD,
            thread_key=f"topic:{topic_id}",
            external_message_id=external_id,
            parent_external_id=post_external_id(topic_id, parent_number) if parent_number else None,
            root_external_id=topic_id,
            author_external_id=opt_str(post, "user_id") or (f"@{username}" if username else None),
            author_handle=username,
            author_display_name=opt_str(post, "name") or username,
            author_avatar_url=avatar_url(site, opt_str(post, "avatar_template")),
            text=text,
            edit_seq=version if kind == EventType.MESSAGE_EDITED else None,
            idempotency_key=f"discourse:{site}:{post_id}:{key}",
            platform_created_at=from_iso(stamp_raw, "post.created_at/updated_at/deleted_at"),
            platform_ts_raw=str(stamp_raw),
            subject=opt_str(post, "topic_title"),
            platform_metadata={
                "topic_id": int(topic_id) if topic_id.isdigit() else topic_id,
                "post_number": int(number) if number.isdigit() else number,
                "post_id": int(post_id) if post_id.isdigit() else post_id,
                "version": version,
            },
        )
    ]


def raise_for_discourse_error(response: httpx.Response) -> None:
    """Map Discourse's error answers (``errors``, ``error_type``, ``extras``) to ours."""
    if response.status_code < 400:
        return
    body = _http.json_body(response)
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    message = "; ".join(str(e) for e in errors) or response.text[:300]
    code = str(body.get("error_type") or response.status_code)
    if response.status_code == 429:
        extras = body.get("extras") if isinstance(body.get("extras"), dict) else {}
        wait = extras.get("wait_seconds")
        seconds = _http.retry_after(response.headers)
        if seconds is None and isinstance(wait, int | float) and not isinstance(wait, bool):
            seconds = float(wait)
        raise RateLimited(seconds, code, message)
    if response.status_code == 403 and code == "invalid_access":
        # Discourse's answer to a wrong key or username.
        raise AuthError(code, message)
    _http.raise_for_status(response, code=code, message=message)


class DiscourseAdapter(Adapter):
    """Topics and posts of one Discourse forum (``external_id``: its base URL)."""

    platform = "discourse"

    def verify(
        self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
    ) -> bool:
        """Check ``X-Discourse-Event-Signature`` against the HMAC of the raw body."""
        secret = credential(credentials, "webhook_secret")
        if secret is None:
            return False
        expected = "sha256=" + hmac_sha256(secret, body).hex()
        return compare(expected, header(headers, SIGNATURE_HEADER))

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """A post event becomes one event; topic and other events become none."""
        payload = load_object(body)
        event = header(headers, EVENT_HEADER) or ""
        if event not in _POST_EVENTS:
            if event == "" and "post" in payload:
                raise PayloadError(f"a post payload needs the {EVENT_HEADER} header")
            return []
        post = as_dict(payload.get("post"), "post")
        if opt_int(post, "post_type") == SMALL_ACTION:
            return []  # "closed this topic", "split this topic"…: the forum's, nobody's words
        return _post_events(post, site=account_external_id, event=event)

    def send(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        reply: OutboundReply,
    ) -> SendResult:
        """A post in the topic, answering the post the reply's parent is."""
        topic = reply.root_external_id
        if not topic:
            raise PolicyError("no_topic", "a Discourse reply needs its topic")
        raw = reply.text_with_links()
        if not raw:
            raise PolicyError("empty", "nothing to send")
        body: dict[str, Any] = {"topic_id": int(topic) if topic.isdigit() else topic, "raw": raw}
        parent = (reply.parent_external_id or "").rpartition("/")
        if parent[0] == topic and parent[2].isdigit():
            body["reply_to_post_number"] = int(parent[2])
        response = _http.request(
            client,
            "POST",
            _http.join(base_url, "/posts.json"),
            json=body,
            headers={
                "Api-Key": _http.require(credentials, "api_key"),
                "Api-Username": _http.require(credentials, "api_username"),
                "Accept": "application/json",
            },
        )
        raise_for_discourse_error(response)
        data = _http.json_body(response)
        number = opt_str(data, "post_number")
        if not number:
            raise PayloadError("the created post has no post_number")
        return SendResult(
            external_message_id=post_external_id(opt_str(data, "topic_id") or topic, number),
            raw=data,
        )
