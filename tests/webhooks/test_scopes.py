"""Scopes on every endpoint (webhooks need ``webhooks:manage``), in the schema; key expiry."""

import uuid
from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from crm.models import WebhookSubscription
from crm.services.workspaces import api_key_create
from tests.conftest import client_with
from tests.crm.test_isolation import ROUTES

ALL_BUT_WEBHOOKS = [
    "contacts:read",
    "contacts:write",
    "conversations:read",
    "conversations:write",
    "messages:send",
    "admin",
]


def key_with(ws, key_scopes, **kwargs):
    created = api_key_create(
        actor=ws.owner_actor, name="k", key_scopes=key_scopes, expires_at=None, **kwargs
    )
    return client_with(created.token)


def webhook_requests(ws, hook_id, delivery_id):
    base = ws.url(f"webhooks/{hook_id}/")
    return [
        ("get", ws.url("webhooks/"), None),
        ("post", ws.url("webhooks/"), {"url": "http://127.0.0.1:9/h"}),
        ("get", base, None),
        ("patch", base, {"active": False}),
        ("delete", base, None),
        ("post", base + "rotate-secret/", {}),
        ("get", base + "deliveries/", None),
        ("post", base + f"deliveries/{delivery_id}/redeliver/", None),
    ]


def test_every_webhook_endpoint_needs_webhooks_manage(ws, subscribe):
    subscription, secret = subscribe("http://127.0.0.1:9/h")
    client = key_with(ws, ALL_BUT_WEBHOOKS)
    for method, url, body in webhook_requests(ws, subscription.pk, uuid.uuid4()):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.status_code)
        error = response.json()["error"]
        assert error["code"] == "permission_denied"
        assert error["details"] == {"required_scope": "webhooks:manage"}
    subscription.refresh_from_db()
    assert subscription.active
    assert subscription.secrets["current"] == secret
    assert WebhookSubscription.objects.count() == 1


@pytest.mark.parametrize(
    ("role", "allowed"), [("admin", True), ("agent", False), ("sales", False), ("viewer", False)]
)
def test_member_roles(ws, role, allowed):
    _, token = ws.add_member(role)
    response = client_with(token).get(ws.url("webhooks/"))
    assert response.status_code == (200 if allowed else 403)


def test_a_webhooks_only_key_manages_webhooks_but_cannot_widen_what_it_reads(ws):
    client = key_with(ws, ["webhooks:manage"])
    assert client.get(ws.url("webhooks/")).status_code == 200
    refused = client.post(
        ws.url("webhooks/"), {"url": "http://127.0.0.1:9/h", "events": ["contact.created"]}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"missing_scopes": ["contacts:read"]}
    assert client.get(ws.url("contacts/")).status_code == 403


def test_every_workspace_endpoint_states_a_scope_for_each_method():
    """Deny by default is the backstop; this makes each decision explicit and reviewed."""
    from config.urls import workspace_urlpatterns
    from tests.crm.test_isolation import _walk

    missing = []
    for route, callback in _walk(workspace_urlpatterns):
        view = callback.view_class
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method) and method.upper() not in view.required_scopes:
                missing.append(f"{method.upper()} {route}")
    assert missing == []


def test_the_schema_documents_the_scope_and_errors_of_every_operation(anon):
    schema = yaml.safe_load(anon.get("/api/v1/schema/").content)
    paths = schema["paths"]
    for path in (
        "/api/v1/workspaces/{workspace}/webhooks/",
        "/api/v1/workspaces/{workspace}/webhooks/{webhook_id}/",
        "/api/v1/workspaces/{workspace}/webhooks/{webhook_id}/rotate-secret/",
        "/api/v1/workspaces/{workspace}/webhooks/{webhook_id}/deliveries/",
        "/api/v1/workspaces/{workspace}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver/",
    ):
        for operation in paths[path].values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            assert {"bearerAuth": ["webhooks:manage"]} in operation["security"]
            assert "Required scope: `webhooks:manage`" in operation["description"]
            assert {"400", "401", "403", "404"} <= set(operation["responses"])
    # Every operation that needs a scope says so in its description too.
    for path, item in paths.items():
        for method, operation in item.items():
            scoped = [s for s in operation.get("security", []) if s.get("bearerAuth")]
            if scoped:
                scope = scoped[0]["bearerAuth"][0]
                assert f"Required scope: `{scope}`" in operation["description"], (method, path)
    assert len(ROUTES) == len([p for p in paths if p.startswith("/api/v1/workspaces/{workspace}/")])


def test_a_key_is_shown_once_and_expires(client, ws, monkeypatch):
    expires = timezone.now() + timedelta(hours=1)
    created = client.post(
        ws.url("api-keys/"),
        {"name": "bi", "scopes": ["contacts:read"], "expires_at": expires.isoformat()},
        format="json",
    )
    assert created.status_code == 201
    token, key_id = created.json()["key"], created.json()["id"]
    for shown in (
        client.get(ws.url("api-keys/")).json()["results"],
        client.get(ws.url(f"api-keys/{key_id}/")).json(),
    ):
        assert "key" not in (shown[0] if isinstance(shown, list) else shown)
        assert token not in str(shown)
    assert client_with(token).get(ws.url("contacts/")).status_code == 200
    # An hour later the key has expired, though its process remembers it as valid.
    later = timezone.now() + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert client_with(token).get(ws.url("contacts/")).status_code == 401
