"""The console's pages and its use of the API with a session: sign in and out, CSRF on
writes, members only, nothing loaded from elsewhere."""

import io
import itertools
import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from crm.api.throttling import AuthRateThrottle
from crm.services.workspaces import user_get_or_create, workspace_create

CONSOLE = Path(__file__).resolve().parents[2] / "console"
PASSWORD = "console-test-password"
_addresses = itertools.count(1)


def from_new_address() -> Client:
    """A browser at an address no other test used: sign-in bounds are counted per address
    in the cache, which outlives a test."""
    address = f"10.{os.getpid() % 250}.{next(_addresses) % 250}.{int.from_bytes(os.urandom(1))}"
    return Client(REMOTE_ADDR=address)


@pytest.fixture
def owner(db):
    return workspace_create(
        slug="acme", name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD
    ).owner


@pytest.fixture
def browser_client(owner) -> Client:
    """A signed-in browser: session cookie, and the CSRF check a browser is held to."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    return client


def csrf_token(client: Client) -> str:
    client.get("/console/acme/")
    return client.cookies["csrftoken"].value


def test_the_console_asks_for_a_sign_in_first(db):
    response = Client().get("/console/acme/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/?next=/console/acme/"
    assert Client().get("/").headers["Location"] == "/console/"


def test_the_sign_in_page_labels_its_fields(db):
    html = Client().get("/console/login/").content.decode()
    assert '<label for="id_username">Email</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'autocomplete="current-password"' in html
    assert '<main id="main"' in html


def test_a_member_signs_in_with_any_case_of_email_and_signs_out(owner):
    client = from_new_address()
    response = client.post("/console/login/", {"username": "Owner@ACME.test", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/console/"
    assert client.get("/api/v1/me").json()["user"]["email"] == "owner@acme.test"

    assert client.post("/console/logout/").status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_a_wrong_password_is_refused_with_a_message(owner):
    response = from_new_address().post(
        "/console/login/", {"username": "owner@acme.test", "password": "no"}
    )
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in response.client.session


def test_sign_in_attempts_are_throttled_per_address(owner, monkeypatch):
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", {"auth": "2/min"})
    client = from_new_address()
    for _ in range(2):
        client.post("/console/login/", {"username": "owner@acme.test", "password": "no"})
    response = client.post("/console/login/", {"username": "owner@acme.test", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failed_passwords_count_toward_the_address_bound(owner, settings):
    settings.CAUSERIE_AUTH_FAILURE_LIMIT = 2
    settings.CAUSERIE_AUTH_FAILURE_WINDOW = 10**7
    client = from_new_address()
    for _ in range(2):
        client.post("/console/login/", {"username": "owner@acme.test", "password": "no"})
    response = client.post("/console/login/", {"username": "owner@acme.test", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_session_reads_the_api_and_writes_only_with_the_csrf_token(browser_client):
    assert browser_client.get("/api/v1/workspaces/acme/conversations/").status_code == 200
    url = "/api/v1/workspaces/acme/labels/"

    refused = browser_client.post(url, {"name": "VIP"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    assert "CSRF" in refused.json()["error"]["message"]

    accepted = browser_client.post(
        url,
        {"name": "VIP"},
        content_type="application/json",
        headers={"X-CSRFToken": csrf_token(browser_client)},
    )
    assert accepted.status_code == 201, accepted.json()


def test_a_session_reaches_only_the_workspaces_of_its_member(browser_client, db):
    workspace_create(slug="globex", name="Globex", owner_email="boss@globex.test")
    response = browser_client.get("/api/v1/workspaces/globex/conversations/")
    assert response.status_code == 404
    stranger = Client()
    stranger.force_login(user_get_or_create(email="nobody@else.test", password=PASSWORD))
    assert stranger.get("/api/v1/workspaces/acme/conversations/").status_code == 404
    assert stranger.get("/api/v1/me").json()["workspaces"] == []


def test_a_session_gets_a_realtime_ticket_with_the_csrf_token(browser_client):
    response = browser_client.post(
        "/api/v1/workspaces/acme/realtime/tickets/",
        content_type="application/json",
        headers={"X-CSRFToken": csrf_token(browser_client)},
    )
    assert response.status_code == 201
    assert response.json()["ticket"].startswith("rt_")


def test_the_console_loads_nothing_from_another_site(browser_client):
    pages = [browser_client.get(path).content.decode() for path in ("/console/", "/console/acme/")]
    assets = [p.read_text() for p in (CONSOLE / "static").rglob("*") if p.is_file()]
    templates = [p.read_text() for p in (CONSOLE / "templates").rglob("*.html")]
    for text in pages + assets + templates:
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
        assert not re.search(r"""(fetch|import|url)\(["']?(https?:)?//""", text)


def test_the_demo_prints_members_who_sign_in_to_the_console(db):
    out = io.StringIO()
    call_command("demo_workspace", stdout=out)
    printed = out.getvalue()
    assert "http://127.0.0.1:8000/console/" in printed
    signins = re.findall(r"(\S+@demo\.causerie\.test) / (\S+)", printed)
    assert len(signins) == 2
    for email, password in signins:
        client = from_new_address()
        response = client.post("/console/login/", {"username": email, "password": password})
        assert response.status_code == 302, email
        workspaces = client.get("/api/v1/me").json()["workspaces"]
        assert [w["slug"] for w in workspaces] == ["demo"]
    labels = client.get("/api/v1/workspaces/demo/labels/").json()["results"]
    assert {label["name"] for label in labels} == {"Delivery", "Returns", "Sales"}
