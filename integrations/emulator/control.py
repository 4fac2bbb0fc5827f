"""The ``/_emulator/`` control API (JSON) and the ``/_sink/`` webhook capture endpoints.

=====================================  ===============================================
``GET  /_emulator/health``             ``{"ok": true}``
``GET  /_emulator/info``               SMTP address and platform list
``POST /_emulator/reset``              forget everything
``POST /_emulator/accounts``           ``{platform, external_id, credentials}``
``GET  /_emulator/requests``           recorded platform requests (``?platform=``)
``POST /_emulator/faults``             ``{platform, kind, count, retry_after, code, message}``
``DELETE /_emulator/faults``           drop pending faults (``?platform=``)
``POST /_emulator/poll-items``         ``{platform: telegram|youtube|wordpress, account, items}``
``POST /_emulator/history``           ``{platform: facebook|instagram, account, kind, items}``
``GET|POST /_emulator/youtube/quota``  read, or set ``{limit, used}``
``POST /_emulator/deliver``            sign and POST a webhook to ``target_url``
``POST /_emulator/handshake``          run Meta's hub.challenge or X's CRC against a URL
``POST /_emulator/streams``            ``{deliveries: [{platform, target_url, payload,
                                       account}], threads, rate}``: deliver in the
                                       background, redelivering until answered 2xx
``GET  /_emulator/streams/{id}``       a stream's progress (``/outcomes``: per delivery)
``DELETE /_emulator/streams/{id}``     stop redelivering
``GET  /_emulator/sinks/{name}``       requests captured by ``POST /_sink/{name}``
``POST /_emulator/sinks/{name}``       ``{status}``: what that sink answers
=====================================  ===============================================
"""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import unquote

import httpx

from . import platforms, signing, sites, stream
from .state import FAULT_KINDS, PLATFORMS, EmulatorState, Fault
from .wire import Request, Response, error

_DELIVERY_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def _credentials(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(body.get("credentials"), dict):
        return body["credentials"]
    account = state.find_account(body.get("platform"), external_id=str(body.get("account", "")))
    return account["credentials"] if account else None


def deliver(state: EmulatorState, body: dict[str, Any]) -> Response:
    """Serialise, sign and POST one webhook the way the platform does."""
    platform = body.get("platform")
    target = body.get("target_url")
    if platform not in signing.SIGNATURE_HEADERS or not isinstance(target, str):
        return error(400, "platform (a webhook platform) and target_url are required")
    credentials = _credentials(state, body)
    if credentials is None:
        return error(400, "unknown account: register it or pass credentials")
    if "raw_b64" in body:
        payload: Any = base64.b64decode(body["raw_b64"])
    elif "raw" in body:
        payload = str(body["raw"]).encode("utf-8")
    else:
        payload = body.get("payload")
    raw, headers = signing.sign_delivery(
        platform,
        payload,
        credentials,
        msg_id=body.get("msg_id"),
        escape_slashes=bool(body.get("escape_slashes")),
        event=body.get("event"),
    )
    if platform == "discourse":
        # Replies posted later take the next numbers of the topics the forum has shown.
        sites.remember_discourse_post(state, str(body.get("account", "")), payload)
    signature_header = signing.SIGNATURE_HEADERS[platform]
    mode = body.get("signature", "valid")
    if mode == "missing":
        headers.pop(signature_header, None)
    elif mode == "invalid":
        value = headers[signature_header]
        headers[signature_header] = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    headers.update({str(k): str(v) for k, v in (body.get("extra_headers") or {}).items()})
    try:
        answer = httpx.post(target, content=raw, headers=headers, timeout=_DELIVERY_TIMEOUT)
    except httpx.HTTPError as exc:
        return Response(200, {"status": None, "error": str(exc), "sent": _sent(raw, headers)})
    return Response(
        200,
        {
            "status": answer.status_code,
            "body": answer.text,
            "headers": dict(answer.headers),
            "sent": _sent(raw, headers),
        },
    )


def _sent(raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {"headers": headers, "body_b64": base64.b64encode(raw).decode("ascii")}


def handshake(state: EmulatorState, body: dict[str, Any]) -> Response:
    """Play Meta's verification GET or X's CRC against ``target_url`` and judge the answer."""
    platform = body.get("platform")
    target = body.get("target_url")
    credentials = _credentials(state, body)
    if not isinstance(target, str) or credentials is None:
        return error(400, "target_url and a known account (or credentials) are required")
    if platform in {"facebook", "instagram", "whatsapp"}:
        challenge = str(secrets.randbelow(9_000_000_000) + 1_000_000_000)
        token = body.get("verify_token", credentials.get("verify_token", ""))
        params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": token}
        answer = httpx.get(target, params=params, timeout=_DELIVERY_TIMEOUT)
        ok = answer.status_code == 200 and answer.text == challenge
    elif platform == "x":
        crc = secrets.token_urlsafe(24)
        answer = httpx.get(target, params={"crc_token": crc}, timeout=_DELIVERY_TIMEOUT)
        expected = signing.x_crc_response(str(credentials.get("consumer_secret", "")), crc)
        try:
            ok = answer.status_code == 200 and answer.json().get("response_token") == expected
        except ValueError:
            ok = False
    else:
        return error(400, f"{platform} has no handshake")
    return Response(200, {"ok": ok, "status": answer.status_code, "body": answer.text})


def capture(state: EmulatorState, req: Request, name: str) -> Response:
    """Store a webhook sent to ``/_sink/{name}`` and answer the configured status."""
    with state.lock:
        state.sinks.setdefault(name, []).append(
            {
                "method": req.method,
                "query": req.query,
                "headers": req.headers,
                "body_b64": base64.b64encode(req.body).decode("ascii"),
            }
        )
        status = state.sink_status.get(name, 200)
    return Response(status, b"ok" if status < 400 else b"error")


def handle(state: EmulatorState, req: Request, info: dict[str, Any]) -> Response:
    """Serve one ``/_emulator/…`` request."""
    route = req.path.removeprefix("/_emulator").strip("/")
    body = req.json() if isinstance(req.json(), dict) else {}
    if route == "health":
        return Response(200, {"ok": True})
    if route == "info":
        return Response(200, info)
    if route == "reset" and req.method == "POST":
        state.reset()
        return Response(200, {"ok": True})
    if route == "accounts" and req.method == "POST":
        if body.get("platform") not in PLATFORMS or not body.get("external_id"):
            return error(400, "platform and external_id are required")
        state.add_account(body["platform"], str(body["external_id"]), body.get("credentials") or {})
        return Response(201, {"ok": True})
    if route == "requests":
        return Response(200, {"requests": state.recorded(req.query.get("platform"))})
    if route == "faults":
        return _faults(state, req, body)
    if route == "poll-items" and req.method == "POST":
        return _poll_items(state, body)
    if route == "history" and req.method == "POST":
        return _history(state, body)
    if route == "youtube/quota":
        with state.lock:
            if req.method == "POST":
                state.youtube_quota_limit = int(body.get("limit", state.youtube_quota_limit))
                state.youtube_quota_used = int(body.get("used", state.youtube_quota_used))
            return Response(
                200, {"used": state.youtube_quota_used, "limit": state.youtube_quota_limit}
            )
    if route == "deliver" and req.method == "POST":
        return deliver(state, body)
    if route == "handshake" and req.method == "POST":
        return handshake(state, body)
    if route == "streams" and req.method == "POST":
        return _stream_start(state, body)
    if route.startswith("streams/"):
        return _stream(state, req, route.removeprefix("streams/"))
    if route.startswith("sinks/"):
        name = unquote(route.removeprefix("sinks/"))
        with state.lock:
            if req.method == "POST":
                state.sink_status[name] = int(body.get("status", 200))
            return Response(200, {"requests": list(state.sinks.get(name, []))})
    return error(404, f"no control route {req.method} {req.path}")


def _faults(state: EmulatorState, req: Request, body: dict[str, Any]) -> Response:
    if req.method == "DELETE":
        with state.lock:
            platform = req.query.get("platform")
            if platform:
                state.faults.pop(platform, None)
            else:
                state.faults.clear()
        return Response(200, {"ok": True})
    if req.method != "POST":
        with state.lock:
            return Response(
                200, {"faults": {p: [f.__dict__ for f in q] for p, q in state.faults.items()}}
            )
    if body.get("platform") not in PLATFORMS or body.get("kind") not in FAULT_KINDS:
        return error(400, f"platform in {PLATFORMS} and kind in {FAULT_KINDS} are required")
    fault = Fault(
        kind=body["kind"],
        remaining=int(body.get("count", 1)),
        retry_after=float(body.get("retry_after", 30.0)),
        code=str(body["code"]) if body.get("code") is not None else None,
        message=body.get("message"),
    )
    state.add_fault(body["platform"], fault)
    return Response(201, {"ok": True})


def _stream_start(state: EmulatorState, body: dict[str, Any]) -> Response:
    items = body.get("deliveries")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return error(400, "deliveries (a list of objects) is required")
    deliveries = []
    for item in items:
        platform, target = item.get("platform"), item.get("target_url")
        if platform not in signing.SIGNATURE_HEADERS or not isinstance(target, str):
            return error(400, "each delivery needs a webhook platform and a target_url")
        credentials = _credentials(state, item)
        if credentials is None:
            return error(400, f"unknown {platform} account: register it or pass credentials")
        deliveries.append(
            stream.Delivery(
                platform=platform,
                target_url=target,
                payload=item.get("payload"),
                credentials=credentials,
            )
        )
    started = stream.stream_start(
        state,
        deliveries,
        threads=int(body.get("threads", 4)),
        rate=float(body.get("rate", 0.0)),
        max_backoff=float(body.get("max_backoff", 5.0)),
    )
    return Response(201, started.summary())


def _stream(state: EmulatorState, req: Request, rest: str) -> Response:
    stream_id, _, part = rest.partition("/")
    with state.lock:
        found = state.streams.get(stream_id)
    if found is None:
        return error(404, f"no stream {stream_id}")
    if req.method == "DELETE":
        found.cancelled = True
        return Response(200, found.summary())
    if part == "outcomes":
        return Response(200, {"outcomes": found.outcomes()})
    return Response(200, found.summary())


def _poll_items(state: EmulatorState, body: dict[str, Any]) -> Response:
    items = body.get("items")
    account = str(body.get("account", ""))
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items) or not account:
        return error(400, "account and items (a list of objects) are required")
    if body.get("platform") == "telegram":
        return Response(
            201, {"update_ids": platforms.queue_telegram_updates(state, account, items)}
        )
    if body.get("platform") == "youtube":
        return Response(201, {"threads": platforms.queue_youtube_threads(state, account, items)})
    if body.get("platform") == "wordpress":
        if not all(isinstance(i.get("id"), int) for i in items):
            return error(400, "WordPress comments need an integer id")
        return Response(201, {"comments": sites.queue_wordpress_comments(state, account, items)})
    return error(400, "poll items exist for telegram, youtube and wordpress only")


def _history(state: EmulatorState, body: dict[str, Any]) -> Response:
    """Queue the posts, media or conversations a Graph account's history API lists."""
    items = body.get("items")
    account = str(body.get("account", ""))
    if (
        not isinstance(items, list)
        or not all(isinstance(i, dict) and i.get("id") for i in items)
        or not account
    ):
        return error(400, "account and items (objects with an id) are required")
    try:
        held = platforms.queue_graph_history(
            state, str(body.get("platform")), account, str(body.get("kind")), items
        )
    except ValueError as exc:
        return error(400, str(exc))
    return Response(201, {"items": held})
