"""WordPress comments, by polling the REST API (``/wp-json/wp/v2/comments``).

* Auth: an application password, HTTP Basic ``username:application_password``; with it
  ``context=edit`` shows the raw text and the guest's email, and ``status=any`` every
  moderation state (``approved``, ``hold``, ``spam``, ``trash``), not only approved ones.
* Each post's comments are one comment thread (``post:{post_id}``), threaded by
  ``parent``; a comment is one raw item. WordPress keeps no edit time nor version, so
  ``parse`` turns every read of a comment into ``message.created`` (a no-op once stored)
  and ``message.edited`` carrying its text and moderation status (a no-op while neither
  changed): edits and moderation decisions both show by reading the comment again.
* ``poll`` walks ``modified_after=<watermark>`` page by page (``page``, ``per_page``,
  following ``X-WP-TotalPages``), oldest id first, so a comment that changes during a
  walk can only be read twice, never skipped; the next watermark is the server's
  ``Date`` when the walk began. ``history`` walks ``after=<since>`` the same way.
* Outbound: ``POST /wp-json/wp/v2/comments`` with ``post``, ``parent`` and ``content``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from . import _http
from ._payload import (
    as_dict,
    from_iso,
    html_to_text,
    load_object,
    opt_dict,
    opt_str,
    req_str,
    sha1_hex,
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
    PollResult,
    SendResult,
    TransientError,
)

COMMENTS_PATH = "/wp-json/wp/v2/comments"
PER_PAGE = 100
MODERATION_STATUSES = ("approved", "hold", "spam", "trash")
# Read again at the start of the next walk: a comment changed in the second the walk
# began is not lost (a re-read unchanged comment is the same stored item).
WATERMARK_OVERLAP = timedelta(seconds=1)


def _author_id(comment: Mapping[str, Any]) -> str | None:
    """The site's user id, or a guest's email (or name) for comments without an account."""
    user = opt_str(comment, "author")
    if user and user != "0":
        return user
    guest = (opt_str(comment, "author_email") or "").strip().lower()
    name = (opt_str(comment, "author_name") or "").strip()
    if guest or name:
        return f"guest:{guest or name}"
    return None


def _avatar(comment: Mapping[str, Any]) -> str | None:
    urls = opt_dict(comment, "author_avatar_urls", "comment") or {}
    sizes = [key for key in urls if str(key).isdigit() and isinstance(urls[key], str)]
    return urls[max(sizes, key=int)] if sizes else None


def _text(comment: Mapping[str, Any]) -> str:
    content = opt_dict(comment, "content", "comment") or {}
    raw = opt_str(content, "raw")
    if raw is not None:
        return raw
    return html_to_text(opt_str(content, "rendered") or "")


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _server_time(response: httpx.Response) -> datetime:
    """The site's clock (``Date``), so that our clock's skew never skips a change."""
    try:
        return parsedate_to_datetime(response.headers["date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.now(tz=UTC)


def _raise_for_wordpress_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    body = _http.json_body(response)
    code = opt_str(body, "code")
    message = opt_str(body, "message") or response.text[:300]
    if response.status_code == 403:
        # The user may not moderate comments: the account needs other credentials.
        raise AuthError(code or "403", message)
    _http.raise_for_status(response, code=code, message=message)


class WordPressAdapter(Adapter):
    """Comments of one WordPress site (``external_id``: its base URL)."""

    platform = "wordpress"
    is_polling = True
    supports_history = True

    def verify(
        self, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, Any]
    ) -> bool:
        """WordPress pushes nothing: comments are polled."""
        return False

    def parse(
        self, body: bytes, headers: Mapping[str, str], *, account_external_id: str
    ) -> list[NormalizedEvent]:
        """One comment as read now: ``message.created`` then ``message.edited``."""
        comment = load_object(body)
        comment_id = req_str(comment, "id", "comment")
        post_id = req_str(comment, "post", "comment")
        status = opt_str(comment, "status") or "approved"
        if status not in MODERATION_STATUSES:
            raise PayloadError(f"comment.status {status!r} is not a moderation status")
        published_raw = comment.get("date_gmt") or comment.get("date")
        published = from_iso(
            f"{published_raw}Z"
            if isinstance(published_raw, str) and published_raw[-1:].isdigit()
            else published_raw,
            "comment.date_gmt",
        )
        parent = opt_str(comment, "parent")
        text = _text(comment)
        site = account_external_id
        common: dict[str, Any] = {
            "channel": Channel.WORDPRESS,
            "account_external_id": site,
            "direction": Direction.INBOUND,
            "origin": Origin.CUSTOMER,
            "conversation_kind": ConversationKind.COMMENT_THREAD,
            "thread_key": f"post:{post_id}",
            "external_message_id": comment_id,
            "parent_external_id": parent if parent and parent != "0" else None,
            "root_external_id": post_id,
            "author_external_id": _author_id(comment),
            "author_display_name": opt_str(comment, "author_name"),
            "author_avatar_url": _avatar(comment),
            "text": text,
            "platform_ts_raw": str(published_raw),
            "platform_metadata": {
                "moderation_status": status,
                "post_id": int(post_id) if post_id.isdigit() else post_id,
                "link": opt_str(comment, "link"),
            },
        }
        version = f"{sha1_hex(text)}:{status}"
        return [
            NormalizedEvent(
                **common,
                event_type=EventType.MESSAGE_CREATED,
                idempotency_key=f"wp:{site}:{comment_id}",
                platform_created_at=published,
            ),
            NormalizedEvent(
                **common,
                event_type=EventType.MESSAGE_EDITED,
                idempotency_key=f"wp:{site}:{comment_id}:{version}",
                # WordPress keeps no edit time: the moment it is read is the closest.
                platform_created_at=datetime.now(tz=UTC),
            ),
        ]

    def send(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        reply: OutboundReply,
    ) -> SendResult:
        """A comment on the post, under the comment answered."""
        post = reply.root_external_id
        if not post or not post.isdigit():
            raise PolicyError("no_post", "a WordPress reply needs the post it comments on")
        content = reply.text_with_links()
        if not content:
            raise PolicyError("empty", "nothing to send")
        parent = reply.parent_external_id
        body = {
            "post": int(post),
            "parent": int(parent) if parent and parent.isdigit() else 0,
            "content": content,
        }
        response = _http.request(
            client,
            "POST",
            _http.join(base_url, COMMENTS_PATH),
            json=body,
            auth=_auth(credentials),
        )
        _raise_for_wordpress_error(response)
        data = _http.json_body(response)
        return SendResult(external_message_id=req_str(data, "id", "comment"), raw=data)

    def poll(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        cursor: dict[str, Any] | None,
    ) -> PollResult:
        """One page of the comments changed since the watermark.

        Cursor: ``{"modified_after", "page", "walk_started", "total", "last_id"}``; without
        a watermark the first walk reads every comment.
        """
        cursor = cursor or {}
        watermark = cursor.get("modified_after")
        filters = {"modified_after": watermark} if isinstance(watermark, str) else {}
        items, walk, started = self._walk_step(client, base_url, credentials, filters, cursor)
        if walk is not None:
            next_cursor = {"modified_after": watermark, **walk}
        else:
            began = datetime.fromisoformat(started.replace("Z", "+00:00"))
            next_cursor = {"modified_after": _stamp(began - WATERMARK_OVERLAP), "page": 1}
        return PollResult(raw_items=items, next_cursor=next_cursor, quota_used=1)

    def history(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        account_external_id: str,
        cursor: dict[str, Any] | None,
        since: datetime | None,
    ) -> PollResult:
        """One page of the comments published after ``since``; cursor as ``poll``'s walk."""
        filters = {"after": _stamp(since)} if since is not None else {}
        items, walk, _ = self._walk_step(client, base_url, credentials, filters, cursor or {})
        return PollResult(raw_items=items, next_cursor=walk or {}, quota_used=1)

    def _walk_step(
        self,
        client: httpx.Client,
        base_url: str,
        credentials: Mapping[str, Any],
        filters: Mapping[str, str],
        walk: Mapping[str, Any],
    ) -> tuple[list[bytes], dict[str, Any] | None, str]:
        """One page of a walk in id order: its new comments, the walk's state for the next
        page (None once the walk has ended), and when the walk began.

        A comment deleted for good during a walk moves every later comment one place
        towards the start, some onto pages already read. When the listing's total
        (``X-WP-Total``) has shrunk since the previous page, or the page is past the end,
        this page is set aside and the walk steps back as many pages as comments went,
        keeping only comments above the highest id already read.
        """
        page = walk.get("page")
        page = page if isinstance(page, int) and page > 0 else 1
        last_id = walk.get("last_id")
        last_id = last_id if isinstance(last_id, int) else 0
        comments, pages, total, started = self._page(
            client, base_url, credentials, filters, page, walk.get("walk_started")
        )
        previous_total = walk.get("total")
        gone = 1 if comments is None else 0
        if isinstance(previous_total, int) and total is not None:
            gone = max(gone, previous_total - total)

        def walk_at(next_page: int, highest_read: int) -> dict[str, Any]:
            return {
                "page": next_page,
                "walk_started": started,
                "total": total,
                "last_id": highest_read,
            }

        if page > 1 and gone > 0:
            return [], walk_at(max(1, page - math.ceil(gone / PER_PAGE)), last_id), started
        if comments is None:
            return [], None, started
        ids = [_comment_id(c) for c in comments]
        fresh = [c for c, cid in zip(comments, ids, strict=True) if cid is None or cid > last_id]
        last_id = max([last_id, *(cid for cid in ids if cid is not None)])
        items = [json.dumps(c, ensure_ascii=False).encode("utf-8") for c in fresh]
        return items, (walk_at(page + 1, last_id) if page < pages else None), started

    def _page(
        self,
        client: httpx.Client,
        base_url: str,
        credentials: Mapping[str, Any],
        filters: Mapping[str, str],
        page: int,
        started: Any,
    ) -> tuple[list[dict[str, Any]] | None, int, int | None, str]:
        """Read one page: its comments (None past the end), the page count, the total, and
        the walk's start."""
        params = {
            **filters,
            "context": "edit",
            "status": "any",
            "per_page": PER_PAGE,
            "page": page,
            "orderby": "id",
            "order": "asc",
        }
        response = _http.request(
            client,
            "GET",
            _http.join(base_url, COMMENTS_PATH),
            params=params,
            auth=_auth(credentials),
        )
        if not isinstance(started, str):
            started = _stamp(_server_time(response))
        if response.status_code == 400 and (
            opt_str(_http.json_body(response), "code") == "rest_comment_invalid_page_number"
        ):
            return None, page, None, started
        _raise_for_wordpress_error(response)
        try:
            listed = response.json()
        except ValueError:
            raise TransientError("not_json", "the comments answer is not JSON") from None
        comments = [as_dict(c, "comment") for c in listed] if isinstance(listed, list) else []
        pages, total = (_header_int(response, name) for name in ("x-wp-totalpages", "x-wp-total"))
        return comments, max(pages or 1, 1), total, started


def _header_int(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _comment_id(comment: Mapping[str, Any]) -> int | None:
    # A comment without a numeric id is passed on as it is, for parse to reject.
    value = comment.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _auth(credentials: Mapping[str, Any]) -> httpx.BasicAuth:
    # Application passwords are shown with spaces; WordPress accepts them either way.
    return httpx.BasicAuth(
        _http.require(credentials, "username"), _http.require(credentials, "application_password")
    )
