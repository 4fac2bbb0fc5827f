"""Guessing credentials is bounded: bad API keys, personal tokens, realtime tickets and
passwords from one client address get 429 with ``Retry-After`` after a bound, in the API's
error format, and the bound is kept in the shared cache (Redis) across processes."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from config.routing import websocket_urlpatterns
from conversations.consumers import CLOSE_THROTTLED, CLOSE_TICKET_INVALID
from crm.services.workspaces import member_add
from tests.realtime.conftest import Client

LIMIT = 5
_addresses = itertools.count(1)


@pytest.fixture(autouse=True)
def low_bound(settings):
    settings.CAUSERIE_AUTH_FAILURE_LIMIT = LIMIT
    # A window far longer than a test, so that no window ends in the middle of one.
    settings.CAUSERIE_AUTH_FAILURE_WINDOW = 10**7


@pytest.fixture
def address() -> str:
    """A client address no other test has used (the counters outlive a test in Redis)."""
    return f"10.{os.getpid() % 250}.{next(_addresses) % 250}.{int.from_bytes(os.urandom(1))}"


def from_address(address: str, token: str | None = None) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "throttled"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 10**7
    assert error["details"]["retry_after"] == retry_after


@pytest.mark.parametrize("kind", ["api_key", "personal_token", "malformed"])
def test_bad_tokens_from_one_address_are_throttled_then_even_a_good_one(ws, address, kind):
    _, personal = ws.add_member("agent")
    good = {"api_key": ws.token, "personal_token": personal, "malformed": ws.token}[kind]
    prefix, _, _ = good.rpartition("_")
    bad = {
        "api_key": prefix + "_" + "x" * 40,
        "personal_token": personal[:-6] + "zzzzzz",
        "malformed": "not-a-token",
    }[kind]

    statuses = [
        from_address(address, bad).get(ws.url("contacts/")).status_code for _ in range(LIMIT)
    ]
    assert statuses == [401] * LIMIT

    assert_throttled(from_address(address, bad).get(ws.url("contacts/")))
    # Once over the bound, nothing from that address is tried, not even a right guess...
    assert_throttled(from_address(address, good).get(ws.url("contacts/")))
    # ...while everyone else goes on as before.
    assert from_address(address + "1", good).get(ws.url("contacts/")).status_code == 200


def test_successes_do_not_count(ws, address):
    for _ in range(LIMIT * 3):
        assert from_address(address, ws.token).get(ws.url("contacts/")).status_code == 200


def test_wrong_passwords_are_throttled_then_even_the_right_one(ws, address):
    membership = member_add(actor=ws.owner_actor, email="ana@acme.test", role="agent", name="Ana")
    membership.user.set_password("a-long-passphrase-42")
    membership.user.save()
    wrong = {"email": "ana@acme.test", "password": "guess"}
    right = {"email": "ana@acme.test", "password": "a-long-passphrase-42"}

    for _ in range(LIMIT):
        assert from_address(address).post("/api/v1/auth/token", wrong).status_code == 401

    assert_throttled(from_address(address).post("/api/v1/auth/token", wrong))
    assert_throttled(from_address(address).post("/api/v1/auth/token", right))
    assert from_address(address + "1").post("/api/v1/auth/token", right).status_code == 201


async def _connect(address: str, **query) -> Client:
    path = "/ws/v1/inbox/" + ("?ticket=" + query["ticket"] if "ticket" in query else "")
    headers = [(b"authorization", f"Bearer {query['token']}".encode())] if "token" in query else []
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path, headers=headers)
    communicator.scope["client"] = (address, 50000)
    client = Client(communicator)
    assert await client.connect()
    return client


async def _refusal(client: Client) -> tuple[dict, int]:
    messages = await client.receive_until(lambda m: m["type"] == "closed")
    errors = [m for m in messages if m["type"] == "error"]
    return errors[-1], messages[-1]["code"]


@pytest.mark.django_db(transaction=True)
async def test_bad_realtime_tickets_are_throttled_then_even_a_good_one(ws, address):
    for _ in range(LIMIT):
        _, code = await _refusal(await _connect(address, ticket="rt_guess"))
        assert code == CLOSE_TICKET_INVALID

    error, code = await _refusal(await _connect(address, ticket="rt_guess"))
    assert code == CLOSE_THROTTLED
    assert error["code"] == "throttled"
    assert error["details"]["retry_after"] >= 1

    # The address is refused over HTTP too (one counter for every way in), and a good
    # bearer header on the websocket is not even looked at.
    assert_throttled(from_address(address, ws.token).get(ws.url("contacts/")))
    _, code = await _refusal(await _connect(address, token=ws.token))
    assert code == CLOSE_THROTTLED

    other = await _connect(address + "1", token=ws.token)
    reply = await other.subscribe(ws.slug)
    assert reply["type"] == "subscribed"
    await other.close()


@pytest.mark.skipif(
    "redis" not in django_settings.CACHES["default"]["BACKEND"].lower(),
    reason="needs REDIS_URL: the bound is shared through Redis",
)
def test_failures_counted_in_another_process_count_here(ws, address):
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from crm.services.auth_guard import auth_failure_record\n"
        f"settings.CAUSERIE_AUTH_FAILURE_WINDOW = {10**7}\n"
        f"for _ in range({LIMIT}): auth_failure_record(client={address!r})\n"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        check=True,
        timeout=60,
    )

    assert_throttled(from_address(address, ws.token).get(ws.url("contacts/")))
