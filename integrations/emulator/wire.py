"""Plain request/response values passed between the HTTP server and the handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Request:
    """One HTTP request as the handlers see it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    host: str
    raw_query: str = ""

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def params(self) -> dict[str, Any]:
        """Query parameters merged with a JSON-object or form body (body wins)."""
        merged: dict[str, Any] = dict(self.query)
        content_type = self.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in content_type:
            merged.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            data = self.json()
            if isinstance(data, dict):
                merged.update(data)
        return merged

    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header."""
        value = self.headers.get("authorization", "")
        return value[7:].strip() if value.lower().startswith("bearer ") else None


@dataclass
class Response:
    """An answer: ``body`` is JSON-serialisable, or ``bytes`` sent as is."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        """Body bytes and content type."""
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "text/plain; charset=utf-8")
        if self.body is None:
            return b"", "text/plain; charset=utf-8"
        text = json.dumps(self.body, ensure_ascii=False)
        return text.encode("utf-8"), "application/json; charset=utf-8"


def error(status: int, message: str) -> Response:
    """A control-API error answer."""
    return Response(status, {"error": {"code": status, "message": message}})
