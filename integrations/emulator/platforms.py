"""The platforms' send, polling and history APIs, as the emulator serves them.

Each handler checks the auth the platform expects, consumes a queued fault if any,
validates the documented request shape and answers with realistic ids. ``dispatch``
returns ``(platform, account, response)`` so the server can record the exchange.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from . import sites
from .signing import standard_webhooks_signature
from .state import EmulatorState, Fault, TelegramBot
from .wire import Request, Response

_GRAPH_PATH = re.compile(r"/(v\d+\.\d+)/([^/]+)(?:/([a-z_]+))?/?")
_TELEGRAM_PATH = re.compile(r"/bot([^/]+)/([A-Za-z]+)/?")
_META_TOKEN_KEYS = (
    ("facebook", "page_access_token"),
    ("instagram", "access_token"),
    ("whatsapp", "access_token"),
)
_META_RATE_CODES = {"facebook": 80006, "instagram": 80002, "whatsapp": 80007}
_TG_SEND_FIELDS = {
    "sendmessage": "text",
    "sendphoto": "photo",
    "senddocument": "document",
    "sendvideo": "video",
    "sendaudio": "audio",
}
Handled = tuple[str, str | None, Response]


# Meta Graph API ----------------------------------------------------------------------
def _graph_error(
    status: int, code: int, message: str, subcode: int | None = None, **extra: Any
) -> Response:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf123",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return Response(status, {"error": error})


def _meta_fault(platform: str, fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        minutes = max(1, math.ceil(fault.retry_after / 60))
        usage = {
            "104000000000001": [
                {
                    "type": "messenger"
                    if platform != "whatsapp"
                    else "whatsapp_business_management",
                    "call_count": 100,
                    "total_cputime": 12,
                    "total_time": 15,
                    "estimated_time_to_regain_access": minutes,
                }
            ]
        }
        response = _graph_error(
            400,
            int(fault.code or _META_RATE_CODES[platform]),
            fault.message
            or "(#80006) There have been too many messages sent to this user. Please wait.",
        )
        response.headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
        return response
    if fault.kind == "server_error":
        return _graph_error(
            500,
            int(fault.code or 2),
            fault.message or "An unexpected error has occurred. Please retry.",
            is_transient=True,
        )
    if fault.kind == "auth":
        return _graph_error(
            401, 190, fault.message or "Error validating access token: Session has expired."
        )
    if platform == "whatsapp":
        return _graph_error(
            400,
            int(fault.code or 131047),
            fault.message or "Re-engagement message",
            error_data={
                "details": "More than 24 hours have passed since the recipient last replied."
            },
        )
    subcode = 2534022 if platform == "instagram" else 2018278
    return _graph_error(
        400,
        int(fault.code or 10),
        fault.message or "(#10) This message is sent outside of allowed window.",
        subcode=subcode,
    )


def _graph(state: EmulatorState, req: Request) -> Handled:
    match = _GRAPH_PATH.fullmatch(req.path)
    if match is None:
        return "graph", None, _graph_error(400, 2500, "Unknown path components")
    node, edge = match.group(2), match.group(3)
    token = req.bearer() or req.query.get("access_token")
    account = None
    for platform, key in _META_TOKEN_KEYS:
        account = state.find_account(platform, **{key: token}) if token else None
        if account is not None:
            break
    if account is None:
        return (
            "graph",
            None,
            _graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token"),
        )
    platform, account_id = account["platform"], account["external_id"]
    if req.method not in {"GET", "POST"}:
        return platform, account_id, _graph_error(400, 100, f"Unsupported {req.method} request.")
    fault = state.take_fault(platform)
    if fault is not None:
        return platform, account_id, _meta_fault(platform, fault)
    if req.method == "GET":
        with state.lock:
            return platform, account_id, _graph_get(state, req, platform, account_id, node, edge)
    params = req.params()
    if edge == "messages":
        if node not in (account_id, "me"):
            return (
                platform,
                account_id,
                _graph_error(400, 100, f"(#100) Object with ID '{node}' does not exist"),
            )
        if platform == "whatsapp":
            return platform, account_id, _whatsapp_message(state, params)
        return platform, account_id, _send_api(state, platform, params)
    if edge in {"comments", "replies"} or (edge == "mentions" and platform == "instagram"):
        if not params.get("message") and not params.get("attachment_url"):
            return (
                platform,
                account_id,
                _graph_error(400, 100, "(#100) The parameter message is required"),
            )
        if edge == "mentions" and not params.get("media_id"):
            return (
                platform,
                account_id,
                _graph_error(400, 100, "(#100) The parameter media_id is required"),
            )
        if platform == "facebook":
            new_id = f"{node.rsplit('_', 1)[-1]}_{state.digits('1', 16)}"
        else:
            new_id = state.digits("178", 17)
        return platform, account_id, Response(200, {"id": new_id})
    return (
        platform,
        account_id,
        _graph_error(400, 100, f"(#100) Unsupported post request to edge {edge!r}"),
    )


def _send_api(state: EmulatorState, platform: str, params: dict[str, Any]) -> Response:
    recipient = params.get("recipient")
    message = params.get("message")
    if isinstance(recipient, str):  # Form-encoded bodies carry JSON strings.
        recipient = json.loads(recipient) if recipient.startswith("{") else None
    if isinstance(message, str):
        message = json.loads(message) if message.startswith("{") else None
    if not isinstance(recipient, dict) or not (recipient.get("id") or recipient.get("comment_id")):
        return _graph_error(400, 100, "(#100) param recipient must be non-empty.")
    if not isinstance(message, dict) or not (
        message.get("text") or message.get("attachment") or message.get("attachments")
    ):
        return _graph_error(400, 100, "(#100) Must send either message or sender action")
    text = message.get("text") or ""
    limit = 2000 if platform == "facebook" else 1000
    if len(text.encode("utf-8") if platform == "instagram" else text) > limit:
        return _graph_error(
            400, 100, f"(#100) Length of param message[text] must be less than {limit}"
        )
    if platform == "facebook":
        kind = params.get("messaging_type")
        if kind not in {"RESPONSE", "UPDATE", "MESSAGE_TAG"}:
            return _graph_error(
                400, 100, "(#100) param messaging_type must be one of RESPONSE, UPDATE, MESSAGE_TAG"
            )
        if kind == "MESSAGE_TAG" and not params.get("tag"):
            return _graph_error(400, 100, "(#100) Param tag is required for MESSAGE_TAG")
    prefix = "m_" if platform == "facebook" else "aWdfZAG1faXRlbTox"
    body: dict[str, Any] = {"message_id": prefix + state.token(24)}
    body["recipient_id"] = str(recipient.get("id") or state.digits("6", 16))
    return Response(200, body)


def _whatsapp_message(state: EmulatorState, params: dict[str, Any]) -> Response:
    if params.get("messaging_product") != "whatsapp":
        return _graph_error(400, 100, "(#100) The parameter messaging_product is required.")
    if params.get("status") == "read":
        return Response(200, {"success": True})
    to, kind = params.get("to"), params.get("type", "text")
    if not isinstance(to, str) or not to.lstrip("+").isdigit():
        return _graph_error(
            400, 131009, "(#131009) Parameter value is not valid", error_data={"details": "to"}
        )
    content = params.get(kind)
    if not isinstance(content, dict):
        return _graph_error(400, 100, f"(#100) The parameter {kind} is required.")
    if kind == "text" and not content.get("body"):
        return _graph_error(400, 100, "(#100) The parameter text['body'] is required.")
    if kind != "text" and not (content.get("link") or content.get("id")):
        return _graph_error(
            400, 100, f"(#100) The parameter {kind}['link'] or {kind}['id'] is required."
        )
    wamid = "wamid." + base64.b64encode(f"HBgL{to}{state.token(12)}".encode()).decode("ascii")
    return Response(
        200,
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
            "messages": [{"id": wamid}],
        },
    )


# Graph history (backfill) -------------------------------------------------------------
_GRAPH_PAGE_DEFAULT = 25
_GRAPH_PAGE_MAX = 100
_HISTORY_KINDS = {"facebook": ("feed", "conversations"), "instagram": ("media", "conversations")}
_CONVERSATION_PLATFORMS = {"facebook": "messenger", "instagram": "instagram"}


def graph_epoch(value: Any) -> float:
    """Epoch seconds of a Graph timestamp (``2024-06-10T10:00:00+0000``) or a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value or "")
    if text.isdigit():
        return float(text)
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _graph_stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _modifiers(fields: str, name: str) -> dict[str, str] | None:
    """Field-expansion modifiers of ``name`` in ``fields`` (``comments.limit(5){…}``)."""
    match = re.search(rf"(?:^|,){name}((?:\.\w+\([^)]*\))*)(?:\{{|,|$)", fields)
    if match is None:
        return None
    return dict(re.findall(r"\.(\w+)\(([^)]*)\)", match.group(1)))


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str) -> int | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode().removeprefix("offset:"))
    except (ValueError, UnicodeDecodeError):
        return None


def _graph_page(
    items: list[Any], *, limit: Any, after: str | None, next_url: str, params: dict[str, Any]
) -> dict[str, Any] | None:
    """``{"data", "paging"}`` of a Graph list; None for an unreadable ``after`` cursor."""
    size = min(_GRAPH_PAGE_MAX, max(1, _int(limit, _GRAPH_PAGE_DEFAULT)))
    start = 0
    if after:
        found = _offset(after)
        if found is None:
            return None
        start = max(0, found)
    chunk = items[start : start + size]
    end = start + len(chunk)
    page: dict[str, Any] = {"data": chunk}
    if chunk:
        page["paging"] = {"cursors": {"before": _cursor(start), "after": _cursor(end)}}
        if end < len(items):
            query = {k: v for k, v in params.items() if k not in {"after", "access_token"}}
            query["limit"] = str(size)
            query["after"] = _cursor(end)
            page["paging"]["next"] = f"{next_url}?{urlencode(query)}"
    return page


def _flatten_comments(
    comments: list[dict[str, Any]], parent: str | None, key: str
) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for comment in comments:
        item = {k: copy.deepcopy(v) for k, v in comment.items() if k not in {key, "parent"}}
        if parent:
            item["_parent"] = parent
        elif isinstance(comment.get("parent"), dict) and comment["parent"].get("id"):
            item["_parent"] = str(comment["parent"]["id"])
        flat.append(item)
        flat += _flatten_comments(comment.get(key) or [], str(comment.get("id")), key)
    return flat


def _wrap_data(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return {"data": copy.deepcopy(value or [])}


def queue_graph_history(
    state: EmulatorState, platform: str, account: str, kind: str, items: list[dict[str, Any]]
) -> int:
    """Add or replace (by ``id``) posts, media or conversations an account's API lists.

    Posts: ``{id, created_time, message, comments: [{id, from, message, created_time,
    comments: [replies…]}]}``; media: ``{id, caption, timestamp, media_product_type,
    comments: [{id, text, timestamp, username, from, replies: […]}]}``; conversations:
    ``{id, participants: [{id, name|username}], messages: [{id, message, from, to,
    created_time}]}``. Timestamps are Graph strings (``…+0000``).
    """
    if kind not in _HISTORY_KINDS.get(platform, ()):
        raise ValueError(f"{platform} has no {kind!r} history")
    with state.lock:
        stored = state.graph_history.setdefault((platform, account, kind), [])
        for raw in items:
            item = copy.deepcopy(raw)
            item["id"] = str(item["id"])
            if kind == "feed":
                item["_comments"] = _flatten_comments(
                    item.pop("comments", []) or [], None, "comments"
                )
                stamps = [graph_epoch(item.get("created_time"))]
                stamps += [graph_epoch(c.get("created_time")) for c in item["_comments"]]
                item.setdefault("updated_time", _graph_stamp(max(stamps)))
            elif kind == "media":
                item["_comments"] = _flatten_comments(
                    item.pop("comments", []) or [], None, "replies"
                )
            else:
                messages = item.pop("messages", []) or []
                if isinstance(messages, dict):
                    messages = messages.get("data", [])
                item["_messages"] = sorted(
                    messages, key=lambda m: graph_epoch(m.get("created_time")), reverse=True
                )
                item["participants"] = _wrap_data(item.get("participants"))
                if item["_messages"]:
                    item.setdefault("updated_time", item["_messages"][0].get("created_time"))
            stored[:] = [i for i in stored if i["id"] != item["id"]]
            stored.append(item)
        return len(stored)


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}


def _fb_comment(comment: dict[str, Any]) -> dict[str, Any]:
    rendered = _public(comment)
    if comment.get("_parent"):
        rendered["parent"] = {"id": comment["_parent"]}
    return rendered


def _fb_comments(post: dict[str, Any], mode: str | None, since: float | None) -> list[Any]:
    comments = post["_comments"]
    if mode != "stream":
        # toplevel (the default): replies hang under their comment.
        tops = [c for c in comments if not c.get("_parent")]
        rendered = []
        for top in tops:
            item = _fb_comment(top)
            replies = [_fb_comment(c) for c in comments if c.get("_parent") == top["id"]]
            if replies:
                item["comments"] = {"data": replies}
            rendered.append(item)
    else:
        rendered = [_fb_comment(c) for c in comments]
    rendered.sort(key=lambda c: graph_epoch(c.get("created_time")))
    if since is not None:
        rendered = [c for c in rendered if graph_epoch(c.get("created_time")) >= since]
    return rendered


def _ig_comment(comment: dict[str, Any]) -> dict[str, Any]:
    rendered = _public(comment)
    if comment.get("_parent"):
        rendered["parent_id"] = comment["_parent"]
    return rendered


def _dm(message: dict[str, Any]) -> dict[str, Any]:
    rendered = copy.deepcopy(message)
    if "to" in rendered:
        rendered["to"] = _wrap_data(rendered["to"])
    if "attachments" in rendered:
        rendered["attachments"] = _wrap_data(rendered["attachments"])
    return rendered


def _graph_get(
    state: EmulatorState,
    req: Request,
    platform: str,
    account_id: str,
    node: str,
    edge: str | None,
) -> Response:
    """Serve the Graph reads of a backfill: feed, media, comments, replies, conversations."""
    params = dict(req.query)
    fields = str(params.get("fields") or "")
    since = graph_epoch(params["since"]) if params.get("since") else None
    base = f"http://{req.host}{req.path}"
    unknown = _graph_error(
        400,
        100,
        f"(#100) Unsupported get request. Object with ID '{node}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
    )
    bad_cursor = _graph_error(400, 100, "(#100) Invalid cursor")

    def page(items: list[Any], url: str = base, limit: Any = None) -> Response:
        paged = _graph_page(
            items,
            limit=params.get("limit") if limit is None else limit,
            after=params.get("after"),
            next_url=url,
            params=params,
        )
        return bad_cursor if paged is None else Response(200, paged)

    def inline(items: list[Any], url: str, limit: Any) -> dict[str, Any]:
        return _graph_page(items, limit=limit, after=None, next_url=url, params={}) or {}

    root = f"http://{req.host}/{req.path.split('/')[1]}"
    feed = state.graph_history.get((platform, account_id, "feed"), [])
    media = state.graph_history.get((platform, account_id, "media"), [])
    conversations = state.graph_history.get((platform, account_id, "conversations"), [])

    if node in (account_id, "me") and edge in {"feed", "posts", "published_posts"}:
        if platform != "facebook":
            return unknown
        posts = sorted(feed, key=lambda p: graph_epoch(p.get("created_time")), reverse=True)
        if since is not None:
            posts = [p for p in posts if graph_epoch(p.get("updated_time")) >= since]
        modifiers = _modifiers(fields, "comments")
        rendered = []
        for post in posts:
            item = _public(post)
            if modifiers is not None:
                comments = _fb_comments(post, modifiers.get("filter"), None)
                item["comments"] = inline(
                    comments,
                    f"{root}/{post['id']}/comments",
                    modifiers.get("limit", _GRAPH_PAGE_DEFAULT),
                )
            rendered.append(item)
        return page(rendered)
    if node in (account_id, "me") and edge == "media":
        if platform != "instagram":
            return unknown
        items = sorted(media, key=lambda m: graph_epoch(m.get("timestamp")), reverse=True)
        if since is not None:
            items = [m for m in items if graph_epoch(m.get("timestamp")) >= since]
        rendered = []
        for item in items:
            out = _public(item)
            out["comments_count"] = len(item["_comments"])
            rendered.append(out)
        return page(rendered)
    if node in (account_id, "me") and edge == "conversations":
        wanted = _CONVERSATION_PLATFORMS[platform]
        if params.get("platform", "messenger").lower() != wanted:
            return _graph_error(
                400, 100, f"(#100) Param platform must be {wanted} for this account"
            )
        listed = sorted(
            conversations, key=lambda c: graph_epoch(c.get("updated_time")), reverse=True
        )
        modifiers = _modifiers(fields, "messages")
        rendered = []
        for conversation in listed:
            item = _public(conversation)
            if modifiers is not None:
                item["messages"] = inline(
                    [_dm(m) for m in conversation["_messages"]],
                    f"{root}/{conversation['id']}/messages",
                    modifiers.get("limit", _GRAPH_PAGE_DEFAULT),
                )
            rendered.append(item)
        return page(rendered)
    if edge == "comments" and platform == "facebook":
        post = next((p for p in feed if p["id"] == node), None)
        if post is None:
            return unknown
        comments = _fb_comments(post, params.get("filter"), since)
        if params.get("order") == "reverse_chronological":
            comments.reverse()
        return page(comments)
    if edge == "comments" and platform == "instagram":
        item = next((m for m in media if m["id"] == node), None)
        if item is None:
            return unknown
        tops = [c for c in item["_comments"] if not c.get("_parent")]
        rendered = []
        for top in sorted(tops, key=lambda c: graph_epoch(c.get("timestamp"))):
            out = _ig_comment(top)
            if "replies" in fields:
                replies = [
                    _ig_comment(c) for c in item["_comments"] if c.get("_parent") == top["id"]
                ]
                out["replies"] = inline(replies, f"{root}/{top['id']}/replies", _GRAPH_PAGE_DEFAULT)
            rendered.append(out)
        return page(rendered)
    if edge == "replies" and platform == "instagram":
        for item in media:
            if any(c["id"] == node for c in item["_comments"]):
                replies = [_ig_comment(c) for c in item["_comments"] if c.get("_parent") == node]
                return page(sorted(replies, key=lambda c: graph_epoch(c.get("timestamp"))))
        return unknown
    if edge == "messages":
        conversation = next((c for c in conversations if c["id"] == node), None)
        if conversation is None:
            return unknown
        return page([_dm(m) for m in conversation["_messages"]])
    return unknown


# X API v2 ----------------------------------------------------------------------------
def _pct(value: str) -> str:
    return quote(value, safe="~")


def _oauth_params(header: str) -> dict[str, str]:
    if not header.startswith("OAuth "):
        return {}
    found = re.findall(r'([A-Za-z_]+)="([^"]*)"', header[6:])
    return {unquote(k): unquote(v) for k, v in found}


def _x_authorised(state: EmulatorState, req: Request) -> dict[str, Any] | None:
    oauth = _oauth_params(req.headers.get("authorization", ""))
    account = state.find_account(
        "x",
        consumer_key=oauth.get("oauth_consumer_key", ""),
        access_token=oauth.get("oauth_token", ""),
    )
    if account is None or oauth.get("oauth_signature_method") != "HMAC-SHA1":
        return None
    params = parse_qsl(req.raw_query, keep_blank_values=True)
    params += [(k, v) for k, v in oauth.items() if k not in {"oauth_signature", "realm"}]
    normalized = "&".join(f"{k}={v}" for k, v in sorted((_pct(k), _pct(v)) for k, v in params))
    url = f"http://{req.host.lower()}{req.path}"
    base = f"{req.method.upper()}&{_pct(url)}&{_pct(normalized)}"
    creds = account["credentials"]
    key = f"{_pct(creds['consumer_secret'])}&{_pct(creds['access_token_secret'])}"
    expected = base64.b64encode(
        hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    ).decode()
    if not hmac.compare_digest(expected, oauth.get("oauth_signature", "")):
        return None
    nonce = oauth.get("oauth_nonce", "")
    with state.lock:
        if nonce in state.x_nonces:
            return None  # A replayed request.
        state.x_nonces.add(nonce)
    return account


def _x_fault(fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        reset = int(time.time() + fault.retry_after)
        return Response(
            429,
            {"errors": [{"code": 88, "message": fault.message or "Rate limit exceeded"}]},
            {
                "x-rate-limit-limit": "200",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset),
            },
        )
    if fault.kind == "server_error":
        return Response(
            503,
            {
                "title": "Service Unavailable",
                "detail": fault.message or "Service Unavailable",
                "type": "about:blank",
                "status": 503,
            },
        )
    if fault.kind == "auth":
        return Response(
            401,
            {
                "title": "Unauthorized",
                "detail": "Unauthorized",
                "type": "about:blank",
                "status": 401,
            },
        )
    return Response(
        403,
        {
            "title": "Forbidden",
            "detail": fault.message or "You are not permitted to send a message to this user.",
            "type": "about:blank",
            "status": 403,
        },
    )


def _x(state: EmulatorState, req: Request) -> Handled:
    account = _x_authorised(state, req)
    if account is None:
        return (
            "x",
            None,
            Response(
                401,
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
            ),
        )
    account_id = account["external_id"]
    fault = state.take_fault("x")
    if fault is not None:
        return "x", account_id, _x_fault(fault)
    body = req.json() if isinstance(req.json(), dict) else {}
    if req.method != "POST":
        return "x", account_id, Response(405, {"title": "Method Not Allowed", "status": 405})
    invalid = Response(
        400,
        {
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "status": 400,
        },
    )
    dm_with = re.fullmatch(r"/2/dm_conversations/with/(\d+)/messages", req.path)
    dm_in = re.fullmatch(r"/2/dm_conversations/([\d-]+)/messages", req.path)
    if dm_with or dm_in:
        if not body.get("text") and not body.get("attachments"):
            return "x", account_id, invalid
        if dm_with:
            pair = sorted((account_id, dm_with.group(1)), key=lambda v: (len(v), v))
            conversation = "-".join(pair)
        else:
            conversation = dm_in.group(1) if dm_in else ""
        return (
            "x",
            account_id,
            Response(
                201,
                {"data": {"dm_conversation_id": conversation, "dm_event_id": state.snowflake()}},
            ),
        )
    if req.path == "/2/tweets":
        reply = body.get("reply")
        if not body.get("text") and not body.get("media"):
            return "x", account_id, invalid
        if reply is not None and not (
            isinstance(reply, dict) and str(reply.get("in_reply_to_tweet_id", "")).isdigit()
        ):
            return "x", account_id, invalid
        tweet_id = state.snowflake()
        return (
            "x",
            account_id,
            Response(
                201,
                {
                    "data": {
                        "id": tweet_id,
                        "text": body.get("text", ""),
                        "edit_history_tweet_ids": [tweet_id],
                    }
                },
            ),
        )
    return (
        "x",
        account_id,
        Response(
            404, {"title": "Not Found Error", "status": 404, "detail": f"Could not find {req.path}"}
        ),
    )


# Telegram Bot API --------------------------------------------------------------------
def _tg_error(code: int, description: str, **parameters: Any) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Response(code, body)


def _tg_fault(fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        seconds = max(1, math.ceil(fault.retry_after))
        return _tg_error(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
    if fault.kind == "server_error":
        return _tg_error(502, fault.message or "Bad Gateway")
    if fault.kind == "auth":
        return _tg_error(401, "Unauthorized")
    return _tg_error(403, fault.message or "Forbidden: bot was blocked by the user")


def _telegram(state: EmulatorState, req: Request) -> Handled:
    match = _TELEGRAM_PATH.fullmatch(req.path)
    token, method = (match.group(1), match.group(2).lower()) if match else ("", "")
    account = state.find_account("telegram", bot_token=token) if token else None
    if account is None:
        return "telegram", None, _tg_error(401, "Unauthorized")
    account_id = account["external_id"]
    fault = state.take_fault("telegram")
    if fault is not None:
        return "telegram", account_id, _tg_fault(fault)
    params = req.params()
    with state.lock:
        bot = state.telegram.setdefault(account_id, TelegramBot())
        return "telegram", account_id, _telegram_method(state, bot, account_id, method, params)


def _telegram_method(
    state: EmulatorState, bot: TelegramBot, bot_id: str, method: str, params: dict[str, Any]
) -> Response:
    bot_user = {
        "id": int(bot_id) if bot_id.isdigit() else bot_id,
        "is_bot": True,
        "first_name": "Causerie Shop",
        "username": "causerie_shop_bot",
    }
    if method == "getme":
        return Response(200, {"ok": True, "result": bot_user})
    if method == "setwebhook":
        bot.webhook_url = str(params.get("url") or "") or None
        return Response(200, {"ok": True, "result": True, "description": "Webhook was set"})
    if method == "deletewebhook":
        bot.webhook_url = None
        if str(params.get("drop_pending_updates", "")).lower() in {"true", "1"}:
            bot.updates.clear()
        return Response(200, {"ok": True, "result": True, "description": "Webhook was deleted"})
    if method == "getwebhookinfo":
        return Response(
            200,
            {
                "ok": True,
                "result": {"url": bot.webhook_url or "", "pending_update_count": len(bot.updates)},
            },
        )
    if method == "getupdates":
        if bot.webhook_url:
            return _tg_error(
                409,
                "Conflict: can't use getUpdates method while webhook is active;"
                " use deleteWebhook to delete the webhook first",
            )
        offset = _int(params.get("offset"), 0)
        limit = min(100, max(1, _int(params.get("limit"), 100)))
        if offset < 0:
            # A negative offset keeps only the last -offset updates and forgets the rest.
            bot.updates = bot.updates[offset:]
        elif offset > 0:
            bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
        return Response(200, {"ok": True, "result": copy.deepcopy(bot.updates[:limit])})
    field = _TG_SEND_FIELDS.get(method)
    if field is None:
        return _tg_error(404, "Not Found")
    chat_id = params.get("chat_id")
    if chat_id in (None, ""):
        return _tg_error(400, "Bad Request: chat_id is empty")
    if not params.get(field):
        return _tg_error(
            400,
            "Bad Request: message text is empty"
            if field == "text"
            else f"Bad Request: there is no {field} in the request",
        )
    chat_key = str(chat_id)
    bot.next_message_id[chat_key] = bot.next_message_id.get(chat_key, 1000) + 1
    message: dict[str, Any] = {
        "message_id": bot.next_message_id[chat_key],
        "from": bot_user,
        "chat": {
            "id": int(chat_key) if chat_key.lstrip("-").isdigit() else chat_key,
            "type": "private",
        },
        "date": int(time.time()),
    }
    if field == "text":
        message["text"] = params["text"]
    elif field == "photo":
        message["photo"] = [
            {
                "file_id": f"AgAC{state.token(16)}",
                "file_unique_id": state.token(6),
                "width": 1280,
                "height": 960,
            }
        ]
    else:
        message[field] = {"file_id": f"BQAC{state.token(16)}", "file_unique_id": state.token(6)}
    if params.get("caption"):
        message["caption"] = params["caption"]
    reply = params.get("reply_parameters")
    reply_id = (
        reply.get("message_id") if isinstance(reply, dict) else params.get("reply_to_message_id")
    )
    if reply_id is not None:
        message["reply_to_message"] = {
            "message_id": _int(reply_id, 0),
            "chat": message["chat"],
            "date": message["date"],
        }
    if params.get("message_thread_id") is not None:
        message["message_thread_id"] = _int(params["message_thread_id"], 0)
        message["is_topic_message"] = True
    return Response(200, {"ok": True, "result": message})


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def queue_telegram_updates(
    state: EmulatorState, bot_id: str, updates: list[dict[str, Any]]
) -> list[int]:
    """Queue updates for ``getUpdates``; ids are assigned when absent. Returns the ids."""
    with state.lock:
        bot = state.telegram.setdefault(bot_id, TelegramBot())
        ids = []
        for update in updates:
            item = copy.deepcopy(update)
            if not isinstance(item.get("update_id"), int):
                item["update_id"] = bot.next_update_id
            bot.next_update_id = max(bot.next_update_id, item["update_id"] + 1)
            bot.updates.append(item)
            ids.append(item["update_id"])
        bot.updates.sort(key=lambda u: u["update_id"])
        return ids


# YouTube Data API v3 -----------------------------------------------------------------
def _google_error(
    status: int, reason: str, message: str, domain: str = "youtube.commentThread"
) -> Response:
    return Response(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": domain, "reason": reason}],
            }
        },
    )


def _yt_fault(fault: Fault) -> Response:
    if fault.kind == "rate_limit":
        return _google_error(
            403,
            "quotaExceeded",
            "The request cannot be completed because you have exceeded your quota.",
            "youtube.quota",
        )
    if fault.kind == "server_error":
        return _google_error(503, "backendError", fault.message or "Backend Error", "global")
    if fault.kind == "auth":
        return _google_error(401, "authError", "Invalid Credentials", "global")
    return _google_error(
        403,
        fault.code or "forbidden",
        fault.message or "The comment cannot be created due to insufficient permissions.",
    )


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None] | None:
    size = min(100, max(1, _int(params.get("maxResults"), 20)))
    token = params.get("pageToken")
    start = 0
    if token:
        try:
            start = int(
                base64.urlsafe_b64decode(str(token).encode()).decode().removeprefix("offset:")
            )
        except (ValueError, UnicodeDecodeError):
            return None
    chunk = items[start : start + size]
    end = start + size
    next_token = (
        base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    )
    return chunk, next_token


def _youtube(state: EmulatorState, req: Request) -> Handled:
    params = req.params() if req.method == "GET" else dict(req.query)
    token = req.bearer()
    account = state.find_account("youtube", access_token=token) if token else None
    if account is None and not token and params.get("key"):
        account = state.find_account("youtube", api_key=params["key"])
        if account is None:
            return (
                "youtube",
                None,
                _google_error(
                    400, "keyInvalid", "API key not valid. Please pass a valid API key.", "global"
                ),
            )
    if account is None:
        return "youtube", None, _google_error(401, "authError", "Invalid Credentials", "global")
    channel = account["external_id"]
    if req.method == "POST" and not token:
        return "youtube", channel, _google_error(401, "required", "Login Required", "global")
    fault = state.take_fault("youtube")
    if fault is not None:
        return "youtube", channel, _yt_fault(fault)
    cost = 50 if req.method == "POST" else 1
    with state.lock:
        if state.youtube_quota_used + cost > state.youtube_quota_limit:
            return "youtube", channel, _yt_fault(Fault("rate_limit", 1))
        state.youtube_quota_used += cost
        resource = req.path.rstrip("/").rsplit("/", 1)[-1]
        if req.method == "GET" and resource == "commentThreads":
            return "youtube", channel, _yt_list_threads(state, channel, params)
        if req.method == "GET" and resource == "comments":
            return "youtube", channel, _yt_list_comments(state, channel, params)
        body = req.json() if isinstance(req.json(), dict) else {}
        if req.method == "POST" and resource in {"comments", "commentThreads"}:
            return "youtube", channel, _yt_insert(state, channel, resource, body)
    return "youtube", channel, _google_error(404, "notFound", "Not Found", "global")


def _yt_threads(state: EmulatorState, channel: str) -> list[dict[str, Any]]:
    threads = state.youtube_threads.get(channel, [])
    return sorted(
        threads,
        key=lambda t: t["snippet"]["topLevelComment"]["snippet"].get("publishedAt", ""),
        reverse=True,
    )


def _yt_list_threads(state: EmulatorState, channel: str, params: dict[str, Any]) -> Response:
    filters = [k for k in ("allThreadsRelatedToChannelId", "videoId", "id") if params.get(k)]
    if len(filters) != 1 or not params.get("part"):
        return _google_error(
            400,
            "missingRequiredParameter",
            "No filter selected. Expected one of: allThreadsRelatedToChannelId, videoId, id",
        )
    threads = _yt_threads(state, channel)
    if params.get("videoId"):
        threads = [t for t in threads if t["snippet"].get("videoId") == params["videoId"]]
    elif params.get("id"):
        wanted = set(str(params["id"]).split(","))
        threads = [t for t in threads if t["id"] in wanted]
    elif params["allThreadsRelatedToChannelId"] != channel:
        threads = []
    paged = _page(threads, params)
    if paged is None:
        return _google_error(
            400, "invalidPageToken", "The request specifies an invalid page token."
        )
    chunk, next_token = paged
    items = []
    for thread in chunk:
        item = copy.deepcopy(thread)
        replies = item.pop("replies", {}).get("comments", [])
        if "replies" in str(params.get("part")) and replies:
            # Like YouTube, commentThreads shows only a subset of the replies.
            item["replies"] = {"comments": replies[:5]}
        items.append(item)
    body: dict[str, Any] = {
        "kind": "youtube#commentThreadListResponse",
        "etag": hashlib.md5(json.dumps(items).encode(), usedforsecurity=False).hexdigest(),
        "pageInfo": {
            "totalResults": len(chunk),
            "resultsPerPage": min(100, max(1, _int(params.get("maxResults"), 20))),
        },
        "items": items,
    }
    if next_token:
        body["nextPageToken"] = next_token
    return Response(200, body)


def _yt_list_comments(state: EmulatorState, channel: str, params: dict[str, Any]) -> Response:
    parent = params.get("parentId")
    threads = {t["id"]: t for t in state.youtube_threads.get(channel, [])}
    if parent:
        thread = threads.get(str(parent))
        comments = thread.get("replies", {}).get("comments", []) if thread else []
    elif params.get("id"):
        wanted = set(str(params["id"]).split(","))
        comments = [
            c
            for t in threads.values()
            for c in [t["snippet"]["topLevelComment"], *t.get("replies", {}).get("comments", [])]
            if c["id"] in wanted
        ]
    else:
        return _google_error(
            400,
            "missingRequiredParameter",
            "No filter selected. Expected one of: id, parentId",
            "youtube.comment",
        )
    paged = _page(comments, params)
    if paged is None:
        return _google_error(
            400,
            "invalidPageToken",
            "The request specifies an invalid page token.",
            "youtube.comment",
        )
    chunk, next_token = paged
    body: dict[str, Any] = {
        "kind": "youtube#commentListResponse",
        "etag": "e",
        "items": copy.deepcopy(chunk),
    }
    if next_token:
        body["nextPageToken"] = next_token
    return Response(200, body)


def _yt_insert(state: EmulatorState, channel: str, resource: str, body: dict[str, Any]) -> Response:
    snippet = body.get("snippet") if isinstance(body.get("snippet"), dict) else {}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    author = {
        "authorDisplayName": "@brand",
        "authorChannelId": {"value": channel},
        "publishedAt": now,
        "updatedAt": now,
    }
    if resource == "comments":
        parent = snippet.get("parentId")
        text = snippet.get("textOriginal")
        thread = next(
            (t for t in state.youtube_threads.get(channel, []) if t["id"] == parent), None
        )
        if not parent:
            return _google_error(
                400,
                "parentIdMissing",
                "The comment you are creating must contain a parentId.",
                "youtube.comment",
            )
        if not text:
            return _google_error(
                400, "commentTextRequired", "The comment must contain text.", "youtube.comment"
            )
        if thread is None:
            return _google_error(
                404,
                "parentCommentNotFound",
                "The parent comment could not be found.",
                "youtube.comment",
            )
        comment = {
            "kind": "youtube#comment",
            "etag": state.token(8),
            "id": f"{parent}.{state.token(16)}",
            "snippet": {"parentId": parent, "textOriginal": text, "textDisplay": text, **author},
        }
        thread.setdefault("replies", {}).setdefault("comments", []).append(comment)
        thread["snippet"]["totalReplyCount"] = len(thread["replies"]["comments"])
        return Response(200, comment)
    top = (
        snippet.get("topLevelComment", {}).get("snippet", {})
        if isinstance(snippet.get("topLevelComment"), dict)
        else {}
    )
    if not snippet.get("videoId") or not top.get("textOriginal"):
        return _google_error(400, "invalidCommentMetadata", "The request metadata is invalid.")
    thread_id = "Ugz" + state.token(16)
    thread = {
        "kind": "youtube#commentThread",
        "etag": state.token(8),
        "id": thread_id,
        "snippet": {
            "channelId": channel,
            "videoId": snippet["videoId"],
            "canReply": True,
            "totalReplyCount": 0,
            "isPublic": True,
            "topLevelComment": {
                "kind": "youtube#comment",
                "etag": state.token(8),
                "id": thread_id,
                "snippet": {
                    "videoId": snippet["videoId"],
                    "textOriginal": top["textOriginal"],
                    "textDisplay": top["textOriginal"],
                    **author,
                },
            },
        },
    }
    state.youtube_threads.setdefault(channel, []).append(thread)
    return Response(200, thread)


def queue_youtube_threads(state: EmulatorState, channel: str, threads: list[dict[str, Any]]) -> int:
    """Add or replace comment threads of a channel (a replaced thread models an edit)."""
    with state.lock:
        stored = state.youtube_threads.setdefault(channel, [])
        for thread in threads:
            item = copy.deepcopy(thread)
            stored[:] = [t for t in stored if t["id"] != item["id"]]
            stored.append(item)
        return len(stored)


# The generic api channel: a tool's callback endpoint -----------------------------------
def _api_callback(state: EmulatorState, req: Request, account_id: str) -> Handled:
    account = state.find_account("api", external_id=account_id)
    if account is None:
        return (
            "api",
            account_id,
            Response(404, {"error": {"code": "unknown_account", "message": account_id}}),
        )
    secret = str(account["credentials"].get("secret", ""))
    msg_id = req.headers.get("webhook-id", "")
    timestamp = req.headers.get("webhook-timestamp", "")
    expected = (
        standard_webhooks_signature(secret, msg_id, timestamp, req.body)
        if msg_id and timestamp.isdigit()
        else ""
    )
    offered = req.headers.get("webhook-signature", "").split()
    fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300
    if not expected or not fresh or not any(hmac.compare_digest(expected, o) for o in offered):
        return (
            "api",
            account_id,
            Response(401, {"error": {"code": "bad_signature", "message": "signature mismatch"}}),
        )
    fault = state.take_fault("api")
    if fault is not None:
        status = {"rate_limit": 429, "server_error": 503, "auth": 401, "policy": 422}[fault.kind]
        headers = (
            {"Retry-After": str(math.ceil(fault.retry_after))} if fault.kind == "rate_limit" else {}
        )
        return (
            "api",
            account_id,
            Response(
                status,
                {
                    "error": {
                        "code": fault.code or fault.kind,
                        "message": fault.message or fault.kind,
                    }
                },
                headers,
            ),
        )
    return "api", account_id, Response(201, {"id": f"tool_{state.next_number()}"})


def dispatch(state: EmulatorState, req: Request) -> Handled | None:
    """Route a platform request; None when the path is no platform's."""
    if _GRAPH_PATH.fullmatch(req.path):
        return _graph(state, req)
    if req.path.startswith("/2/"):
        return _x(state, req)
    if req.path.startswith("/bot"):
        return _telegram(state, req)
    if req.path.startswith("/youtube/v3/"):
        return _youtube(state, req)
    callback = re.fullmatch(r"/_tool/callback/([^/]+)/?", req.path)
    if callback and req.method == "POST":
        return _api_callback(state, req, unquote(callback.group(1)))
    # Forums and blogs last: their API paths live under any prefix of the site.
    return sites.discourse(state, req) or sites.wordpress(state, req)
