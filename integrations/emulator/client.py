"""A Python client for the emulator's control API, for tests and scripts."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import httpx


def emulator_api_environment(base_url: str) -> dict[str, str]:
    """The environment that points a Causerie process's fixed platform API base URLs (the
    Graph API, Instagram, X, Telegram, YouTube) at the emulator serving on ``base_url``."""
    names = ("GRAPH", "INSTAGRAM", "X", "TELEGRAM", "YOUTUBE")
    return {f"CAUSERIE_{name}_API_URL": base_url for name in names}


class EmulatorError(RuntimeError):
    """The control API refused a request."""


class EmulatorClient:
    """Drive one emulator: accounts, faults, poll queues, recorded requests, deliveries."""

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"/_emulator/{path}", **kwargs)
        if response.status_code >= 400:
            raise EmulatorError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    # Setup ------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Base URL, SMTP address and platforms."""
        return self._call("GET", "info")

    def smtp_address(self) -> tuple[str, int]:
        """``(host, port)`` of the SMTP sink."""
        smtp = self.info()["smtp"]
        return smtp["host"], int(smtp["port"])

    def reset(self) -> None:
        """Forget accounts, recorded requests, faults, queues and sinks."""
        self._call("POST", "reset")

    def register_account(
        self, platform: str, external_id: str, credentials: Mapping[str, Any]
    ) -> None:
        """Make the emulator accept ``credentials`` for the account (and sign with them)."""
        payload = {
            "platform": platform,
            "external_id": external_id,
            "credentials": dict(credentials),
        }
        self._call("POST", "accounts", json=payload)

    # Recorded requests ------------------------------------------------------------------
    def requests(self, platform: str | None = None) -> list[dict[str, Any]]:
        """Requests the platform APIs received, oldest first, optionally of one platform."""
        params = {"platform": platform} if platform else None
        return self._call("GET", "requests", params=params)["requests"]

    def last_request(self, platform: str) -> dict[str, Any]:
        """The most recent request to ``platform``."""
        recorded = self.requests(platform)
        if not recorded:
            raise EmulatorError(f"no request recorded for {platform}")
        return recorded[-1]

    # Faults -----------------------------------------------------------------------------
    def set_fault(
        self,
        platform: str,
        kind: str,
        *,
        count: int = 1,
        retry_after: float = 30.0,
        code: str | int | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``count`` calls to ``platform`` with a fault.

        ``kind``: ``rate_limit`` (with the platform's retry hint), ``server_error``,
        ``policy`` (closed window, blocked user…) or ``auth``.
        """
        payload = {
            "platform": platform,
            "kind": kind,
            "count": count,
            "retry_after": retry_after,
            "code": code,
            "message": message,
        }
        self._call("POST", "faults", json=payload)

    def clear_faults(self, platform: str | None = None) -> None:
        """Drop pending faults (of one platform, or all)."""
        self._call("DELETE", "faults", params={"platform": platform} if platform else None)

    # Polling platforms ------------------------------------------------------------------
    def queue_telegram_updates(self, bot_id: str, updates: list[dict[str, Any]]) -> list[int]:
        """Queue updates for the bot's ``getUpdates``; returns their ``update_id``."""
        payload = {"platform": "telegram", "account": bot_id, "items": updates}
        return self._call("POST", "poll-items", json=payload)["update_ids"]

    def queue_youtube_threads(self, channel_id: str, threads: list[dict[str, Any]]) -> int:
        """Add or replace comment threads of a channel; returns how many it holds."""
        payload = {"platform": "youtube", "account": channel_id, "items": threads}
        return self._call("POST", "poll-items", json=payload)["threads"]

    def queue_wordpress_comments(self, site: str, comments: list[dict[str, Any]]) -> int:
        """Add comments to a WordPress site, or merge changes into known ones (by ``id``):
        ``{"id": 7, "status": "spam"}`` moderates, a new ``content`` edits. Returns how
        many comments the site holds."""
        payload = {"platform": "wordpress", "account": site, "items": comments}
        return self._call("POST", "poll-items", json=payload)["comments"]

    def youtube_quota(self, *, limit: int | None = None, used: int | None = None) -> dict[str, int]:
        """Read the YouTube quota counter, or set its ``limit``/``used``."""
        if limit is None and used is None:
            return self._call("GET", "youtube/quota")
        body = {k: v for k, v in {"limit": limit, "used": used}.items() if v is not None}
        return self._call("POST", "youtube/quota", json=body)

    # History (backfill) -----------------------------------------------------------------
    def _queue_history(
        self, platform: str, account: str, kind: str, items: list[dict[str, Any]]
    ) -> int:
        payload = {"platform": platform, "account": account, "kind": kind, "items": items}
        return self._call("POST", "history", json=payload)["items"]

    def queue_facebook_feed(self, page_id: str, posts: list[dict[str, Any]]) -> int:
        """Add or replace Page posts (with nested comments and replies) that
        ``GET /{page-id}/feed`` and ``/{post-id}/comments`` list; returns how many it holds.
        Build them with ``scenarios.facebook_post`` / ``facebook_api_comment``."""
        return self._queue_history("facebook", page_id, "feed", posts)

    def queue_facebook_conversations(
        self, page_id: str, conversations: list[dict[str, Any]]
    ) -> int:
        """Add or replace Messenger conversations that ``GET /{page-id}/conversations``
        lists (``scenarios.graph_conversation``); returns how many it holds."""
        return self._queue_history("facebook", page_id, "conversations", conversations)

    def queue_instagram_media(self, ig_id: str, media: list[dict[str, Any]]) -> int:
        """Add or replace media (with comments and replies) that ``GET /{ig-id}/media``
        and ``/{media-id}/comments`` list (``scenarios.instagram_media``)."""
        return self._queue_history("instagram", ig_id, "media", media)

    def queue_instagram_conversations(self, ig_id: str, conversations: list[dict[str, Any]]) -> int:
        """Add or replace Instagram DM threads that
        ``GET /{ig-id}/conversations?platform=instagram`` lists."""
        return self._queue_history("instagram", ig_id, "conversations", conversations)

    # Webhooks ---------------------------------------------------------------------------
    def deliver(
        self,
        platform: str,
        target_url: str,
        payload: Any = None,
        *,
        account: str | None = None,
        credentials: Mapping[str, Any] | None = None,
        raw: bytes | None = None,
        signature: str = "valid",
        msg_id: str | None = None,
        escape_slashes: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        event: str | None = None,
    ) -> dict[str, Any]:
        """Have the emulator POST a webhook to ``target_url``, serialised and signed as
        ``platform`` does, with a registered ``account``'s secrets or ``credentials``.

        ``raw`` sends exact bytes (still signed); ``signature`` is ``valid``, ``invalid``
        or ``missing``; ``event`` names a Discourse event (default: read from the post).
        Returns ``{"status", "body", "headers", "sent"}``.
        """
        body: dict[str, Any] = {
            "platform": platform,
            "target_url": target_url,
            "signature": signature,
            "escape_slashes": escape_slashes,
        }
        if raw is not None:
            body["raw_b64"] = base64.b64encode(raw).decode("ascii")
        else:
            body["payload"] = payload
        if account is not None:
            body["account"] = account
        if credentials is not None:
            body["credentials"] = dict(credentials)
        if msg_id is not None:
            body["msg_id"] = msg_id
        if extra_headers:
            body["extra_headers"] = dict(extra_headers)
        if event is not None:
            body["event"] = event
        return self._call("POST", "deliver", json=body)

    def handshake(
        self,
        platform: str,
        target_url: str,
        *,
        account: str | None = None,
        credentials: Mapping[str, Any] | None = None,
        verify_token: str | None = None,
    ) -> dict[str, Any]:
        """Run Meta's hub.challenge GET or X's CRC against ``target_url``; ``{"ok", …}``."""
        body: dict[str, Any] = {"platform": platform, "target_url": target_url}
        if account is not None:
            body["account"] = account
        if credentials is not None:
            body["credentials"] = dict(credentials)
        if verify_token is not None:
            body["verify_token"] = verify_token
        return self._call("POST", "handshake", json=body)

    def stream(
        self,
        deliveries: list[Mapping[str, Any]],
        *,
        threads: int = 4,
        rate: float = 0.0,
        max_backoff: float = 5.0,
    ) -> str:
        """Deliver webhooks in the background, each redelivered until answered 2xx (or
        refused as a platform gives up: 400, 401, 403, 404, 410, 413, 422).

        ``deliveries``: ``{platform, target_url, payload, account}`` (or ``credentials``);
        ``threads`` senders at once, at most ``rate`` new deliveries per second (0: no
        limit). Returns the stream's id for ``stream_status``.
        """
        body = {
            "deliveries": [dict(d) for d in deliveries],
            "threads": threads,
            "rate": rate,
            "max_backoff": max_backoff,
        }
        return self._call("POST", "streams", json=body)["id"]

    def stream_status(self, stream_id: str) -> dict[str, Any]:
        """``{total, accepted, refused, pending, attempts, redeliveries, statuses, done}``."""
        return self._call("GET", f"streams/{stream_id}")

    def stream_outcomes(self, stream_id: str) -> list[dict[str, Any]]:
        """Per delivery, in the order given: ``{attempts, statuses, accepted}``."""
        return self._call("GET", f"streams/{stream_id}/outcomes")["outcomes"]

    def stream_stop(self, stream_id: str) -> dict[str, Any]:
        """Stop redelivering; returns the final status."""
        return self._call("DELETE", f"streams/{stream_id}")

    def sink_url(self, name: str) -> str:
        """A URL that captures whatever is POSTed to it (a stand-in webhook receiver)."""
        return f"{self.base_url}/_sink/{name}"

    def sink_requests(self, name: str) -> list[dict[str, Any]]:
        """Requests captured by a sink; ``body`` holds the exact bytes received."""
        captured = self._call("GET", f"sinks/{name}")["requests"]
        for item in captured:
            item["body"] = base64.b64decode(item.pop("body_b64"))
        return captured

    def set_sink_status(self, name: str, status: int) -> None:
        """Make a sink answer ``status`` (to exercise a receiver's error paths)."""
        self._call("POST", f"sinks/{name}", json={"status": status})

    def callback_url(self, account: str) -> str:
        """The emulated tool's callback URL for an ``api`` account (checks signatures)."""
        return f"{self.base_url}/_tool/callback/{account}"
