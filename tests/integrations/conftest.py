"""Fixtures for the adapter and emulator tests: no database, real HTTP on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from integrations.adapters import NormalizedEvent, PayloadError, get_adapter
from integrations.emulator import EmulatorServer, start_in_thread
from integrations.emulator.client import EmulatorClient

FIXTURES = Path(__file__).parent / "fixtures"

# One set of credentials per platform, registered with the emulator for every test.
ACCOUNTS: dict[str, tuple[str, dict[str, Any]]] = {
    "facebook": (
        "104000000000001",
        {
            "page_access_token": "EAAG-page-token",
            "app_secret": "fb-app-secret",
            "verify_token": "fb-verify",
        },
    ),
    "instagram": (
        "17841400000000001",
        {"access_token": "IGAA-token", "app_secret": "ig-app-secret", "verify_token": "ig-verify"},
    ),
    "whatsapp": (
        "106540352242922",
        {"access_token": "EAAW-token", "app_secret": "wa-app-secret", "verify_token": "wa-verify"},
    ),
    "x": (
        "2244994945",
        {
            "consumer_key": "ck-brand",
            "consumer_secret": "cs-brand-secret",
            "access_token": "2244994945-at",
            "access_token_secret": "ats-brand-secret",
        },
    ),
    "telegram": (
        "7000000001",
        {"bot_token": "7000000001:AAF-test-token", "secret_token": "tg_secret-1"},
    ),
    "youtube": ("UCbrand", {"api_key": "AIza-test-key", "access_token": "ya29.test-token"}),
    "email": (
        "support@brand.example",
        {
            "smtp_host": "127.0.0.1",
            "smtp_port": 0,
            "smtp_username": "support@brand.example",
            "smtp_password": "smtp-pass",
            "inbound_secret": "mail-inbound-secret",
        },
    ),
    "api": ("helpdesk", {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "callback_url": ""}),
    "discourse": (
        "https://forum.example.com",
        {
            "api_key": "disc-api-key",
            "api_username": "causerie",
            "webhook_secret": "disc-webhook-secret",
        },
    ),
    "wordpress": (
        "https://blog.example.com",
        {"username": "brand", "application_password": "abcd EFGH ijkl MNOP qrst UVWX"},
    ),
}


def load_fixture(platform: str, name: str) -> dict[str, Any]:
    """A CHANNELS.md sample payload, from ``fixtures/<platform>.json``."""
    return json.loads((FIXTURES / f"{platform}.json").read_text(encoding="utf-8"))[name]


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    server, _ = start_in_thread("127.0.0.1", 0)
    yield server
    server.close()


@pytest.fixture
def emu(emulator_server: EmulatorServer) -> Iterator[EmulatorClient]:
    """A client of a freshly reset emulator with every test account registered."""
    client = EmulatorClient(emulator_server.base_url)
    client.reset()
    for platform, (external_id, credentials) in accounts(emulator_server).items():
        client.register_account(platform, external_id, credentials)
    yield client
    client.close()


def accounts(server: EmulatorServer) -> dict[str, tuple[str, dict[str, Any]]]:
    """The test accounts, with the addresses of this emulator filled in."""
    resolved = {}
    for platform, (external_id, credentials) in ACCOUNTS.items():
        creds = dict(credentials)
        if platform == "email":
            creds["smtp_port"] = server.smtp.server_address[1]
        if platform == "api":
            creds["callback_url"] = f"{server.base_url}/_tool/callback/{external_id}"
        resolved[platform] = (external_id, creds)
    return resolved


@pytest.fixture
def creds(emulator_server: EmulatorServer) -> dict[str, tuple[str, dict[str, Any]]]:
    """``platform -> (external_id, credentials)`` of the registered test accounts."""
    return accounts(emulator_server)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


class Receiver(ThreadingHTTPServer):
    """A stand-in for the webhook view: handshake, verify, parse with the real adapter."""

    daemon_threads = True

    def __init__(self, platform: str, account_id: str, credentials: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.adapter = get_adapter(platform)
        self.account_id = account_id
        self.credentials = credentials
        self.events: list[NormalizedEvent] = []
        self.refused = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        answer = self.server.adapter.handshake(query, self.server.credentials)
        if answer is None:
            self._answer(405, b"no handshake")
        else:
            self._answer(answer.status, answer.body, answer.content_type)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict(self.headers.items())
        if not self.server.adapter.verify(headers, body, self.server.credentials):
            with self.server.lock:
                self.server.refused += 1
            self._answer(401, b"bad signature")
            return
        try:
            events = self.server.adapter.parse(
                body, headers, account_external_id=self.server.account_id
            )
        except PayloadError as exc:
            self._answer(400, str(exc).encode())
            return
        with self.server.lock:
            self.server.events.extend(events)
        self._answer(200, b"ok")


@pytest.fixture
def receiver(creds: dict[str, tuple[str, dict[str, Any]]]) -> Iterator[Any]:
    """``receiver(platform)`` starts a webhook receiver for that platform's test account."""
    started: list[Receiver] = []

    def start(platform: str) -> Receiver:
        account_id, credentials = creds[platform]
        server = Receiver(platform, account_id, credentials)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def queued_reply(conversation: Any, text: str) -> Any:
    """A reply stored ``queued`` as an agent's would be, without its send task running."""
    from conversations.models import Message

    return Message.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        brand_account_id=conversation.brand_account_id,
        direction="outbound",
        author_type="brand",
        text=text,
        status="queued",
    )


@pytest.fixture
def account_for(live_server, creds):
    """``account_for(platform)``: a brand account of a fresh workspace, registered with
    the emulator's test credentials, and its webhook URL on the live server."""
    from crm.actors import Actor
    from crm.services.workspaces import workspace_create
    from integrations.services.brand_accounts import brand_account_create

    created = workspace_create(slug="samples", name="Samples", owner_email="o@samples.test")
    actor = Actor.for_member(created.owner)

    def make(platform):
        external_id, credentials = creds[platform]
        account = brand_account_create(
            actor=actor,
            platform=platform,
            name=platform,
            external_id=external_id,
            credentials={k: str(v) for k, v in credentials.items()},
            backfill=False,
        )
        return account, f"{live_server.url}/api/v1/inbound/{account.pk}/"

    return make
