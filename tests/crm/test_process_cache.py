"""Resolved credentials and actors are remembered a few seconds per process; changes still
take effect at once in the process that made them, and within the bound in the others."""

from django.utils import timezone

from crm import process_cache
from crm.models import ApiKey, Membership
from tests.conftest import client_with


def _later(monkeypatch, seconds: float) -> None:
    """Move this process's clock for the cache ``seconds`` ahead."""
    now = process_cache.time.monotonic()
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: now + seconds)


def test_a_resolved_token_costs_no_query_until_the_bound(
    ws, settings, monkeypatch, django_assert_num_queries
):
    _, token = ws.add_member("agent")
    client = client_with(token)
    assert client.get(ws.url("conversations/?page_size=1")).status_code == 200

    # The page only: the token and the membership are remembered.
    with django_assert_num_queries(1):
        client.get(ws.url("conversations/?page_size=1"))
    _later(monkeypatch, settings.CAUSERIE_AUTH_CACHE_SECONDS + 0.1)
    # Past the bound both are looked up again.
    with django_assert_num_queries(3):
        client.get(ws.url("conversations/?page_size=1"))


def test_a_revocation_made_in_another_process_takes_effect_within_the_bound(
    ws, client, settings, monkeypatch
):
    created = client.post(ws.url("api-keys/"), {"name": "ci", "scopes": ["contacts:read"]})
    key = client_with(created.json()["key"])
    assert key.get(ws.url("contacts/")).status_code == 200

    # Another process revokes it: a bulk update sends no signal to this one.
    ApiKey.objects.filter(pk=created.json()["id"]).update(revoked_at=timezone.now())
    _later(monkeypatch, settings.CAUSERIE_AUTH_CACHE_SECONDS + 0.1)

    refused = key.get(ws.url("contacts/"))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


def test_a_revoked_personal_token_stops_working_at_once(ws):
    _, token = ws.add_member("agent")
    client = client_with(token)
    assert client.get(ws.url("conversations/")).status_code == 200
    token_id = client.get("/api/v1/me/tokens/").json()["results"][0]["id"]

    assert client.delete(f"/api/v1/me/tokens/{token_id}/").status_code == 204

    assert client.get(ws.url("conversations/")).status_code == 401


def test_a_removed_member_loses_the_workspace_at_once(ws, client):
    member, token = ws.add_member("agent")
    agent = client_with(token)
    assert agent.get(ws.url("conversations/")).status_code == 200

    assert client.delete(ws.url(f"members/{member.pk}/")).status_code == 204

    assert agent.get(ws.url("conversations/")).status_code == 404
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_a_role_change_applies_at_once(ws, client):
    member, token = ws.add_member("viewer")
    person = client_with(token)
    assert person.post(ws.url("teams/"), {"name": "Support"}).status_code == 403

    assert client.patch(ws.url(f"members/{member.pk}/"), {"role": "admin"}).status_code == 200

    assert person.post(ws.url("teams/"), {"name": "Support"}).status_code == 201
