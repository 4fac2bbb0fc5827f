"""The emulator's HTTP server: platform APIs, control API, capture sinks, SMTP sink."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import control, platforms
from .smtp import SmtpSink
from .state import PLATFORMS, EmulatorState
from .wire import Request, Response, error

logger = logging.getLogger(__name__)
_MAX_BODY = 16 * 1024 * 1024


class EmulatorServer(ThreadingHTTPServer):
    """One emulator: an HTTP server and an SMTP sink over one shared state."""

    daemon_threads = True

    def __init__(self, host: str, port: int, *, smtp_port: int = 0) -> None:
        self.state = EmulatorState()
        super().__init__((host, port), _Handler)
        self.smtp = SmtpSink((host, smtp_port), self.state)
        self._runners: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the HTTP side."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def info(self) -> dict[str, Any]:
        """What ``GET /_emulator/info`` reports."""
        smtp_host, smtp_port = self.smtp.server_address[:2]
        return {
            "base_url": self.base_url,
            "smtp": {"host": smtp_host, "port": smtp_port},
            "platforms": list(PLATFORMS),
        }

    def start(self) -> None:
        """Serve HTTP and SMTP in daemon threads."""
        self._runners.append(self.smtp.start())
        # A short poll interval keeps shutdown() fast in test teardown.
        thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="emulator-http", daemon=True
        )
        thread.start()
        self._runners.append(thread)

    def close(self) -> None:
        """Stop both servers and release their sockets."""
        self.shutdown()
        self.server_close()
        self.smtp.shutdown()
        self.smtp.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment: split writes meet delayed ACKs (~40 ms each).
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _request(self) -> Request:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, _MAX_BODY)) if length else b""
        return Request(
            method=self.command,
            path=unquote(parts.path),
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            host=self.headers.get("Host") or self.server.base_url.removeprefix("http://"),
            raw_query=parts.query,
        )

    def _handle(self) -> None:
        req = self._request()
        state = self.server.state
        try:
            if req.path.startswith("/_emulator/"):
                response = control.handle(state, req, self.server.info())
            elif req.path.startswith("/_sink/"):
                response = control.capture(state, req, req.path.removeprefix("/_sink/").strip("/"))
            else:
                handled = platforms.dispatch(state, req)
                if handled is None:
                    response = error(404, f"no emulated platform at {req.path}")
                else:
                    platform, account, response = handled
                    state.record(_record(platform, account, req, response))
        except Exception as exc:  # The emulator must answer, even about its own bugs.
            logger.exception("emulator failure on %s %s", req.method, req.path)
            response = error(500, f"emulator error: {exc!r}")
        self._write(response)

    def _write(self, response: Response) -> None:
        body, content_type = response.encode()
        self.send_response(response.status)
        headers = {"Content-Type": content_type, **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


def _record(platform: str, account: str | None, req: Request, response: Response) -> dict[str, Any]:
    body: Any = req.json()
    if body is None and req.body:
        params = req.params()
        body = params if params != req.query else req.body.decode("utf-8", "replace")
    return {
        "platform": platform,
        "account": account,
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "headers": req.headers,
        "body": body,
        "raw_body": req.body.decode("utf-8", "replace"),
        "status": response.status,
        "response": response.body if not isinstance(response.body, bytes) else None,
    }


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, smtp_port: int = 0
) -> tuple[EmulatorServer, str]:
    """Start an emulator in background threads; port 0 picks free ports.

    Returns the server (call ``close()`` when done) and its base URL.
    """
    server = EmulatorServer(host, port, smtp_port=smtp_port)
    server.start()
    return server, server.base_url


def run(host: str = "127.0.0.1", port: int = 8025, *, smtp_port: int = 0) -> None:
    """Serve the emulator in the foreground until interrupted."""
    server = EmulatorServer(host, port, smtp_port=smtp_port)
    server.smtp.start()
    logger.info("emulator on %s, SMTP on %s:%s", server.base_url, *server.smtp.server_address[:2])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.smtp.shutdown()
        server.smtp.server_close()
