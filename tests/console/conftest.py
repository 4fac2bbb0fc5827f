"""The console's fixtures: a real ASGI server and the emulator, a headless Chromium.

The browser tests need Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``)
and Playwright for Python (requirements-dev.txt). Without them they are skipped on a
developer's machine, and fail under CI (``CI=true``), where they must run.
"""

import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connection, connections

from crm.actors import Actor
from crm.models import Membership
from crm.services.workspaces import member_add, workspace_create
from integrations.emulator.client import EmulatorClient, emulator_api_environment
from integrations.services.brand_accounts import brand_account_create
from tests.asgi_server import AsgiServer, server_database_url
from tests.integrations.conftest import emulator_server  # noqa: F401  (the emulator fixture)

CHROMIUM = os.environ.get("CAUSERIE_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "console-test-password"
BOT_ID = "7000000555"
BOT_CREDENTIALS = {"bot_token": f"{BOT_ID}:AAF-console", "secret_token": "console-tg-secret"}
T = TypeVar("T")


def screenshot(page, name: str) -> None:
    """Save the page as ``docs/console/<name>.png`` when CAUSERIE_CONSOLE_SCREENSHOTS=1.

    The README's screenshots are made this way (README, "The agent console").
    """
    if os.environ.get("CAUSERIE_CONSOLE_SCREENSHOTS") == "1":
        folder = Path(__file__).resolve().parents[2] / "docs" / "console"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI runs the browser tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright (never a browser Playwright downloads)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -r requirements-dev.txt)")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    # Playwright's synchronous API keeps an event loop in this thread between calls, idle
    # while the test runs; Django would otherwise refuse the test's own ORM calls.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def console_server(django_db_setup, django_db_blocker, emulator_server, tmp_path_factory):  # noqa: F811
    """Causerie under uvicorn on the test database and Redis, its platforms the emulator.

    Tasks run in the server's background threads as in ``make run`` (no broker), so a
    reply is answered ``queued`` and sent right after, to the emulator
    (``tests/console/server_settings.py``).
    """
    if not settings.DATABASE_IS_POSTGRES or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    with django_db_blocker.unblock():
        database_url = server_database_url()
    emulator = emulator_server.base_url
    server = AsgiServer(
        env={
            "DJANGO_SETTINGS_MODULE": "tests.console.server_settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": "",
            **emulator_api_environment(emulator),
            "LOG_LEVEL": "WARNING",
        },
        log_dir=tmp_path_factory.mktemp("console-server"),
    )
    server.env["CAUSERIE_PUBLIC_URL"] = server.url
    server.start()
    yield server
    server.stop()


@dataclass
class Desk:
    """A workspace with two members who sign in, and a Telegram bot the emulator plays."""

    slug: str
    owner: Membership
    agent: Membership
    account: object
    emulator: EmulatorClient


def off_the_browser_thread(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run service code in a thread of its own and return its result.

    Services publish committed events to the channel layer with ``async_to_sync``, which
    refuses the thread where Playwright's synchronous API keeps its event loop.
    """

    def run() -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


@pytest.fixture
def desk(transactional_db, console_server, emulator_server, settings) -> Iterator[Desk]:  # noqa: F811
    settings.CAUSERIE_PUBLIC_URL = console_server.url
    desk = off_the_browser_thread(_desk_create, emulator_server.base_url)
    yield desk
    desk.emulator.close()
    _wait_until_the_server_is_idle()


def _wait_until_the_server_is_idle(timeout: float = 10.0) -> None:
    """Let the server finish what the browsers started (a last PATCH, a send in a
    background thread) before the test's tables are truncated under it."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                "AND state <> 'idle'"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


def _desk_create(emulator_url: str) -> Desk:
    created = workspace_create(
        slug="support",
        name="Support desk",
        owner_email="alice@support.test",
        owner_password=PASSWORD,
    )
    owner = created.owner
    owner.user.name = "Alice Owner"
    owner.user.save(update_fields=["name"])
    actor = Actor.for_member(owner)
    agent = member_add(
        actor=actor, email="bob@support.test", role="agent", name="Bob Agent", password=PASSWORD
    )
    account = brand_account_create(
        actor=actor,
        platform="telegram",
        name="Support bot",
        external_id=BOT_ID,
        credentials=BOT_CREDENTIALS,
        backfill=False,
    )
    client = EmulatorClient(emulator_url)
    client.reset()
    client.register_account("telegram", BOT_ID, BOT_CREDENTIALS)
    return Desk(
        slug=created.workspace.slug, owner=owner, agent=agent, account=account, emulator=client
    )
