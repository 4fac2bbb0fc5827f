"""Forums and blogs as the emulator serves them: Discourse's posts API, WordPress comments.

Both are sites of their own, so the paths are matched under any prefix (a forum at
``https://example.com/community`` has its API at ``/community/posts.json``), and the
account is found by its credentials, not by the host.

* Discourse: ``POST …/posts.json`` with ``Api-Key``/``Api-Username``; a reply gets the
  next number of its topic, as the topics known from delivered webhooks and earlier
  replies stand. Discourse refuses posts under 20 characters, and so does this.
* WordPress: ``GET …/wp-json/wp/v2/comments`` (HTTP Basic with an application password)
  pages with ``page``/``per_page`` and ``X-WP-Total``/``X-WP-TotalPages``, filters by
  ``after``, ``modified_after``, ``status``, ``post``; ``POST`` adds the brand's comment;
  ``DELETE …/comments/<id>`` trashes a comment, or deletes it for good with ``force=true``.
  Comments are queued with ``queue_wordpress_comments``: an item whose id is known is
  merged into the stored comment, which is how a test edits or moderates one.
"""

from __future__ import annotations

import base64
import copy
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from .state import EmulatorState, Fault
from .wire import Request, Response

Handled = tuple[str, str | None, Response]
_POSTS_PATH = re.compile(r"(?:/.*)?/posts\.json")
_COMMENTS_PATH = re.compile(r"(?:/.*)?/wp-json/wp/v2/comments(?:/(?P<comment_id>\d+))?/?")
DISCOURSE_MIN_POST_LENGTH = 20
WORDPRESS_BRAND_USER_ID = 1
_WP_STATUSES = {"approve": "approved", "approved": "approved", "hold": "hold"}
_WP_STATUSES |= {"spam": "spam", "trash": "trash"}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    text = value if value[-1:].isalpha() or "+" in value[10:] else f"{value}Z"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# Discourse ---------------------------------------------------------------------------
def _discourse_error(status: int, error_type: str | None, *errors: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"errors": list(errors)}
    if error_type:
        body["error_type"] = error_type
    body.update(extra)
    return Response(status, body)


def _discourse_fault(fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        seconds = max(1, math.ceil(fault.retry_after))
        response = _discourse_error(
            429,
            "rate_limit",
            f"You've performed this action too many times. Please wait {seconds} seconds "
            "before trying again.",
            extras={"wait_seconds": seconds, "time_left": f"{seconds} seconds"},
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    if fault.kind == "server_error":
        return _discourse_error(502, None, fault.message or "Bad Gateway")
    if fault.kind == "auth":
        return _invalid_access()
    return _discourse_error(
        422, None, fault.message or "Body is too similar to what you recently posted"
    )


def _invalid_access() -> Response:
    return _discourse_error(
        403,
        "invalid_access",
        "You are not permitted to view the requested resource. The API username or key is invalid.",
    )


def remember_discourse_post(state: EmulatorState, account: str, payload: Any) -> None:
    """Note the topic and number of a post delivered by webhook (replies follow them)."""
    post = payload.get("post") if isinstance(payload, dict) else None
    if not isinstance(post, dict):
        return
    try:
        topic, number = int(post["topic_id"]), int(post["post_number"])
    except (KeyError, TypeError, ValueError):
        return
    with state.lock:
        topics = state.discourse_topics.setdefault(account, {})
        topics[topic] = max(topics.get(topic, 0), number)


def discourse(state: EmulatorState, req: Request) -> Handled | None:
    """``POST …/posts.json``; None for any other path."""
    if not _POSTS_PATH.fullmatch(req.path):
        return None
    key, username = req.headers.get("api-key", ""), req.headers.get("api-username", "")
    account = (
        state.find_account("discourse", api_key=key, api_username=username)
        if key and username
        else None
    )
    if account is None:
        return "discourse", None, _invalid_access()
    site = account["external_id"]
    fault = state.take_fault("discourse")
    if fault is not None:
        return "discourse", site, _discourse_fault(fault)
    if req.method != "POST":
        return "discourse", site, _discourse_error(405, None, "Method Not Allowed")
    params = req.params()
    raw = str(params.get("raw") or "")
    try:
        topic = int(params.get("topic_id"))
    except (TypeError, ValueError):
        return "discourse", site, _discourse_error(422, None, "Title can't be blank")
    if len(raw.strip()) < DISCOURSE_MIN_POST_LENGTH:
        return (
            "discourse",
            site,
            _discourse_error(
                422, None, f"Body is too short (minimum is {DISCOURSE_MIN_POST_LENGTH} characters)"
            ),
        )
    with state.lock:
        topics = state.discourse_topics.setdefault(site, {})
        if topic not in topics:
            return (
                "discourse",
                site,
                _discourse_error(
                    404, "not_found", "The requested URL or resource could not be found."
                ),
            )
        reply_to = params.get("reply_to_post_number")
        if reply_to is not None and not (
            isinstance(reply_to, int) and 0 < reply_to <= topics[topic]
        ):
            return "discourse", site, _discourse_error(422, None, "Reply to post does not exist")
        topics[topic] += 1
        number = topics[topic]
        post_id = 10_000 + state.next_number()
    now = _iso(time.time())
    post = {
        "id": post_id,
        "name": "Brand Support",
        "username": username,
        "avatar_template": f"/user_avatar/forum/{username}/{{size}}/1_2.png",
        "created_at": now,
        "updated_at": now,
        "cooked": f"<p>{raw}</p>",
        "raw": raw,
        "post_number": number,
        "post_type": 1,
        "reply_to_post_number": reply_to,
        "topic_id": topic,
        "version": 1,
        "user_id": -1 if username == "system" else 2,
        "deleted_at": None,
    }
    return "discourse", site, Response(200, post)


# WordPress ---------------------------------------------------------------------------
def _wp_error(status: int, code: str, message: str, **headers: str) -> Response:
    return Response(status, {"code": code, "message": message, "data": {"status": status}}, headers)


def _wp_fault(fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        seconds = str(max(1, math.ceil(fault.retry_after)))
        return _wp_error(
            429, "rest_too_many_requests", "Too many requests.", **{"Retry-After": seconds}
        )
    if fault.kind == "server_error":
        return _wp_error(503, "rest_unavailable", fault.message or "Service Unavailable")
    if fault.kind == "auth":
        return _wp_error(
            401, "incorrect_password", "The provided password is an invalid application password."
        )
    return _wp_error(
        403,
        fault.code or "rest_comment_closed",
        fault.message or "Sorry, comments are closed for this item.",
    )


def _basic(req: Request) -> tuple[str, str]:
    value = req.headers.get("authorization", "")
    if not value.lower().startswith("basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(value[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return "", ""
    return user, password


def _wp_account(state: EmulatorState, req: Request) -> dict[str, Any] | None:
    user, password = _basic(req)
    if not user:
        return None
    wanted = password.replace(" ", "")
    with state.lock:
        for account in state.accounts:
            creds = account["credentials"]
            if (
                account["platform"] == "wordpress"
                and creds.get("username") == user
                and str(creds.get("application_password", "")).replace(" ", "") == wanted
            ):
                return account
    return None


def queue_wordpress_comments(
    state: EmulatorState, site: str, comments: list[dict[str, Any]]
) -> int:
    """Add comments, or merge changes into known ones (an edit, a moderation decision).

    Every change stamps the comment modified now, which ``modified_after`` filters on.
    """
    with state.lock:
        stored = state.wordpress_comments.setdefault(site, {})
        for item in comments:
            comment_id = int(item["id"])
            current = stored.get(comment_id)
            merged = copy.deepcopy(item) if current is None else {**current, **copy.deepcopy(item)}
            merged["id"] = comment_id
            merged["_modified"] = time.time()
            stored[comment_id] = merged
        return len(stored)


def _wp_render(comment: dict[str, Any], edit: bool) -> dict[str, Any]:
    rendered = {k: copy.deepcopy(v) for k, v in comment.items() if not k.startswith("_")}
    content = rendered.get("content") if isinstance(rendered.get("content"), dict) else {}
    if not edit:
        rendered.pop("author_email", None)
        rendered["content"] = {"rendered": content.get("rendered", "")}
    return rendered


def wordpress(state: EmulatorState, req: Request) -> Handled | None:
    """``GET``/``POST …/wp-json/wp/v2/comments``; None for any other path."""
    matched = _COMMENTS_PATH.fullmatch(req.path)
    if matched is None:
        return None
    account = _wp_account(state, req)
    if account is None:
        status = 401
        code = "incorrect_password" if _basic(req)[0] else "rest_not_logged_in"
        return "wordpress", None, _wp_error(status, code, "You are not currently logged in.")
    site = account["external_id"]
    fault = state.take_fault("wordpress")
    if fault is not None:
        return "wordpress", site, _wp_fault(fault)
    with state.lock:
        if matched["comment_id"] is not None:
            if req.method == "DELETE":
                return "wordpress", site, _wp_delete(state, site, int(matched["comment_id"]), req)
            return "wordpress", site, _wp_error(405, "rest_no_route", "No route was found.")
        if req.method == "GET":
            return "wordpress", site, _wp_list(state, site, req.query)
        if req.method == "POST":
            return "wordpress", site, _wp_create(state, site, account, req.params())
    return "wordpress", site, _wp_error(405, "rest_no_route", "No route was found.")


def _wp_list(state: EmulatorState, site: str, query: dict[str, str]) -> Response:
    try:
        per_page = int(query.get("per_page", 10))
        page = int(query.get("page", 1))
    except ValueError:
        return _wp_error(400, "rest_invalid_param", "Invalid parameter(s): page, per_page")
    if not 1 <= per_page <= 100 or page < 1:
        return _wp_error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
    status = query.get("status", "approve")
    comments = list(state.wordpress_comments.get(site, {}).values())
    if status not in ("any", "all"):
        if status not in _WP_STATUSES:
            return Response(200, [], {"X-WP-Total": "0", "X-WP-TotalPages": "0"})
        comments = [c for c in comments if c.get("status", "approved") == _WP_STATUSES[status]]
    elif status == "all":
        comments = [c for c in comments if c.get("status", "approved") in ("approved", "hold")]
    for name, key in (("after", "date_gmt"), ("modified_after", "_modified")):
        if name not in query:
            continue
        bound = _epoch(query[name])
        if bound is None:
            return _wp_error(400, "rest_invalid_param", f"Invalid parameter(s): {name}")
        comments = [c for c in comments if _comment_time(c, key) > bound]
    if query.get("post"):
        comments = [c for c in comments if str(c.get("post")) == query["post"]]
    order = query.get("orderby", "date_gmt")
    comments.sort(
        key=lambda c: c["id"] if order == "id" else (_comment_time(c, "date_gmt"), c["id"])
    )
    if query.get("order", "desc") == "desc":
        comments.reverse()
    total = len(comments)
    pages = math.ceil(total / per_page)
    if page > max(pages, 1):
        return _wp_error(
            400,
            "rest_comment_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
        )
    chunk = comments[(page - 1) * per_page : page * per_page]
    edit = query.get("context") == "edit"
    return Response(
        200,
        [_wp_render(c, edit) for c in chunk],
        {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)},
    )


def _wp_delete(state: EmulatorState, site: str, comment_id: int, req: Request) -> Response:
    """Trash a comment (a moderation change, seen by ``modified_after``), or with
    ``force=true`` remove it from every listing, as WordPress's permanent delete does."""
    stored = state.wordpress_comments.get(site, {})
    comment = stored.get(comment_id)
    if comment is None:
        return _wp_error(404, "rest_comment_invalid_id", "Invalid comment ID.")
    if req.query.get("force") in ("true", "1"):
        del stored[comment_id]
        return Response(200, {"deleted": True, "previous": _wp_render(comment, True)})
    comment["status"] = "trash"
    comment["_modified"] = time.time()
    return Response(200, _wp_render(comment, True))


def _comment_time(comment: dict[str, Any], key: str) -> float:
    value = comment.get(key)
    if isinstance(value, int | float):
        return float(value)
    return _epoch(value) or 0.0


def _wp_create(
    state: EmulatorState, site: str, account: dict[str, Any], params: dict[str, Any]
) -> Response:
    stored = state.wordpress_comments.setdefault(site, {})
    content = params.get("content")
    text = content.get("raw") if isinstance(content, dict) else content
    try:
        post, parent = int(params.get("post") or 0), int(params.get("parent") or 0)
    except (TypeError, ValueError):
        return _wp_error(400, "rest_invalid_param", "Invalid parameter(s): post, parent")
    if not isinstance(text, str) or not text.strip():
        return _wp_error(400, "rest_comment_content_invalid", "Invalid comment content.")
    if not any(c.get("post") == post for c in stored.values()):
        return _wp_error(
            403,
            "rest_comment_invalid_post_id",
            "Sorry, you are not allowed to create this comment without a post.",
        )
    if parent and (parent not in stored or stored[parent].get("post") != post):
        return _wp_error(400, "rest_comment_invalid_parent", "Invalid parent ID.")
    now = time.time()
    comment = {
        "id": max(stored, default=0) + 1000 + state.next_number(),
        "post": post,
        "parent": parent,
        "author": WORDPRESS_BRAND_USER_ID,
        "author_name": str(account["credentials"].get("username")),
        "author_email": "brand@blog.example",
        "author_url": "",
        "date": _iso(now)[:19],
        "date_gmt": _iso(now)[:19],
        "content": {"rendered": f"<p>{text}</p>\n", "raw": text},
        "link": f"{site}/?p={post}",
        "status": "approved",
        "type": "comment",
        "author_avatar_urls": {"96": "https://secure.gravatar.com/avatar/brand?s=96"},
        "meta": [],
        "_modified": now,
    }
    stored[comment["id"]] = comment
    return Response(201, _wp_render(comment, True))
