"""Session-authenticated writes need the CSRF token; bearer tokens never do."""

import pytest
from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret
from rest_framework.test import APIClient

from tests.conftest import client_with


@pytest.fixture
def browser(ws):
    """A member signed in with a session cookie, CSRF checks on as in a real browser."""
    membership, _ = ws.add_member("agent")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(membership.user)
    return client


def with_csrf(client: APIClient) -> str:
    """Set the CSRF cookie on ``client`` and return a matching (masked) header token."""
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    return _mask_cipher_secret(secret)


def test_a_session_reads_without_a_token(ws, browser):
    assert browser.get(ws.url("contacts/")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "contacts/", {"name": "Ana"}),
        ("post", "realtime/tickets/", {}),
        ("patch", "", {"name": "Renamed"}),
        ("post", "labels/", {"name": "vip"}),
    ],
)
def test_a_session_write_without_the_csrf_token_is_refused(ws, browser, method, path, body):
    response = getattr(browser, method)(ws.url(path), body, format="json")

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "csrf_failed"
    assert "CSRF" in error["message"]


def test_a_wrong_csrf_token_is_refused_and_nothing_is_written(ws, browser):
    from contacts.models import Contact

    with_csrf(browser)
    response = browser.post(
        ws.url("contacts/"), {"name": "Ana"}, format="json", HTTP_X_CSRFTOKEN="x" * 64
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert not Contact.objects.filter(workspace=ws.workspace, name="Ana").exists()


def test_a_session_write_with_the_csrf_token_goes_through(ws, browser):
    token = with_csrf(browser)

    response = browser.post(
        ws.url("contacts/"), {"name": "Ana"}, format="json", HTTP_X_CSRFTOKEN=token
    )

    assert response.status_code == 201, response.json()


def test_bearer_clients_need_no_csrf_token(ws):
    client = client_with(ws.token)
    client.handler.enforce_csrf_checks = True

    assert client.post(ws.url("contacts/"), {"name": "Ana"}, format="json").status_code == 201
