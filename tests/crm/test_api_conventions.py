"""The conventions every endpoint inherits: error format, pagination, idempotency, limits."""

import pytest
from django.test import override_settings

from crm.api.throttling import CredentialRateThrottle
from crm.models import Membership


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_unknown_api_path_is_a_json_404(client):
    assert_error(client.get("/api/v1/nothing-here/"), 404, "not_found")


@override_settings(DEBUG=True)
def test_unknown_api_path_is_json_even_in_debug(client):
    assert_error(client.get("/api/v2/contacts/"), 404, "not_found")


def test_missing_slash_is_pointed_out(ws, client):
    error = assert_error(client.get(ws.url("members")), 404, "not_found")

    assert "members/" in error["message"]


def test_validation_errors_name_the_field(ws, client):
    error = assert_error(
        client.post(ws.url("members/"), {"role": "agent"}), 400, "validation_error"
    )

    assert "email" in error["details"]
    assert "email" in error["message"]


def test_malformed_json_is_a_parse_error(ws, client):
    response = client.post(ws.url("teams/"), data="{not json", content_type="application/json")

    assert_error(response, 400, "parse_error")


def test_wrong_content_type_is_415(ws, client):
    response = client.post(ws.url("teams/"), data="name=x", content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")


def test_method_not_allowed_is_405(ws, client):
    assert_error(client.put(ws.url("audit-log/"), {}), 405, "method_not_allowed")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversized_body_is_413_and_nothing_is_created(ws, client):
    response = client.post(
        ws.url("members/"),
        {"email": "big@acme.test", "role": "agent", "name": "x" * 5000},
    )

    assert_error(response, 413, "request_too_large")
    assert not Membership.objects.filter(user__email="big@acme.test").exists()


def test_cursor_pagination_walks_every_item_once(ws, client):
    for i in range(7):
        ws.add_member("agent", email=f"agent{i}@acme.test")

    seen, url, pages = [], ws.url("members/?page_size=3"), 0
    while url:
        page = client.get(url).json()
        assert set(page) == {"results", "next", "previous"}
        seen += [m["email"] for m in page["results"]]
        url, pages = page["next"], pages + 1

    assert pages == 3
    assert len(seen) == len(set(seen)) == 8


@pytest.mark.parametrize("size", ["0", "101", "ten"])
def test_page_size_out_of_range_is_refused(ws, client, size):
    error = assert_error(client.get(ws.url(f"members/?page_size={size}")), 400, "validation_error")

    assert "page_size" in error["details"]


def test_forged_cursor_is_a_validation_error(ws, client):
    assert_error(client.get(ws.url("members/?cursor=garbage")), 400, "validation_error")


def test_idempotency_key_replays_the_first_response(ws, client):
    body = {"email": "once@acme.test", "role": "agent"}

    first = client.post(ws.url("members/"), body, HTTP_IDEMPOTENCY_KEY="k-1")
    second = client.post(ws.url("members/"), body, HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Membership.objects.filter(user__email="once@acme.test").count() == 1


def test_idempotency_key_with_another_body_is_a_conflict(ws, client):
    client.post(
        ws.url("members/"), {"email": "a@acme.test", "role": "agent"}, HTTP_IDEMPOTENCY_KEY="k"
    )

    other = client.post(
        ws.url("members/"), {"email": "b@acme.test", "role": "agent"}, HTTP_IDEMPOTENCY_KEY="k"
    )

    assert_error(other, 409, "idempotency_key_reused")
    assert not Membership.objects.filter(user__email="b@acme.test").exists()


def test_idempotency_keys_of_different_credentials_do_not_collide(ws, client):
    _, admin_token = ws.add_member("admin")
    from tests.conftest import client_with

    a = client.post(ws.url("teams/"), {"name": "A"}, HTTP_IDEMPOTENCY_KEY="same")
    b = client_with(admin_token).post(ws.url("teams/"), {"name": "B"}, HTTP_IDEMPOTENCY_KEY="same")

    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_failed_validation_is_replayed_too(ws, client):
    first = client.post(ws.url("teams/"), {}, HTTP_IDEMPOTENCY_KEY="bad")
    second = client.post(ws.url("teams/"), {}, HTTP_IDEMPOTENCY_KEY="bad")

    assert first.status_code == second.status_code == 400
    assert first.json() == second.json()


def test_throttled_client_gets_429_with_retry_after(ws, client, monkeypatch):
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(CredentialRateThrottle, "THROTTLE_RATES", {"credential": "3/min"})

    statuses = [client.get(ws.url("members/")).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = client.get(ws.url("members/"))
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1
    cache.clear()


def test_the_rate_limit_slides_across_its_windows(ws, client, monkeypatch):
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(CredentialRateThrottle, "THROTTLE_RATES", {"credential": "4/min"})
    clock = [60 * 30_000_000 + 58.0]  # two seconds before a minute turns
    monkeypatch.setattr(CredentialRateThrottle, "timer", staticmethod(lambda: clock[0]))

    def statuses(count: int) -> list[int]:
        return [client.get(ws.url("members/")).status_code for _ in range(count)]

    assert statuses(5) == [200, 200, 200, 200, 429]
    # Just after the minute turns the budget is not whole again: the last minute still
    # counts (a fixed window would allow 4 more, 8 in four seconds).
    clock[0] += 4
    assert statuses(3).count(200) <= 1
    refused = client.get(ws.url("members/"))
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    # A quiet minute later it is whole.
    clock[0] += 120
    assert statuses(5) == [200, 200, 200, 200, 429]
    cache.clear()


def test_unknown_path_suggests_nothing_when_no_variant_exists(client):
    error = assert_error(client.get("/api/v1/nope"), 404, "not_found")

    assert "did you mean" not in error["message"]
