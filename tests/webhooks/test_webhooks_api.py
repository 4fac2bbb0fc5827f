"""``webhooks/``: CRUD, a secret shown once and stored encrypted, deliveries, redeliver."""

import json
from datetime import timedelta

from django.db import connection

from crm.models import AuditLogEntry, WebhookDelivery, WebhookSubscription
from crm.services.events import event_record
from crm.webhooks.delivery import msg_id_for, subscription_deliver

FIELDS = {"id", "url", "events", "active", "created_at"}


def test_create_shows_the_secret_once(client, ws, sink):
    response = client.post(
        ws.url("webhooks/"), {"url": sink.url, "events": ["contact.created"]}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) >= FIELDS
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["contact.created"]
    assert created["active"] is True

    listed = client.get(ws.url("webhooks/")).json()
    assert [w["id"] for w in listed["results"]] == [created["id"]]
    assert set(listed) == {"results", "next", "previous"}
    fetched = client.get(ws.url(f"webhooks/{created['id']}/")).json()
    for shown in (listed["results"][0], fetched):
        assert set(shown) >= FIELDS
        assert "secret" not in shown
        assert created["secret"] not in json.dumps(shown)


def test_the_secret_is_stored_encrypted(client, ws, sink):
    created = client.post(ws.url("webhooks/"), {"url": sink.url}).json()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets FROM crm_webhooksubscription WHERE id = %s",
            [created["id"].replace("-", "") if connection.vendor == "sqlite" else created["id"]],
        )
        (raw,) = cursor.fetchone()
    assert created["secret"] not in raw
    assert created["secret"].removeprefix("whsec_") not in raw
    stored = WebhookSubscription.objects.get(pk=created["id"])
    assert stored.secrets["current"] == created["secret"]


def test_events_default_to_all(client, ws, sink):
    created = client.post(ws.url("webhooks/"), {"url": sink.url}).json()
    assert created["events"] == ["*"]


def test_bad_input_is_refused(client, ws, sink):
    for body in (
        {"url": "not a url"},
        {"url": sink.url, "events": ["nonsense"]},
        {"url": sink.url, "events": ["unknown.created"]},
        {},
    ):
        response = client.post(ws.url("webhooks/"), body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] in ("validation_error", "unsafe_url")


def test_update_and_delete(client, ws, sink, make_sink):
    hook = client.post(ws.url("webhooks/"), {"url": sink.url}).json()
    other = make_sink()
    response = client.patch(
        ws.url(f"webhooks/{hook['id']}/"),
        {"url": other.url, "events": ["message.created"], "active": False},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["url"] == other.url
    assert response.json()["events"] == ["message.created"]
    assert response.json()["active"] is False
    assert "secret" not in response.json()

    assert client.delete(ws.url(f"webhooks/{hook['id']}/")).status_code == 204
    assert client.get(ws.url(f"webhooks/{hook['id']}/")).status_code == 404
    actions = list(
        AuditLogEntry.objects.filter(workspace=ws.workspace, target_type="webhook")
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    assert actions == ["webhook.created", "webhook.updated", "webhook.deleted"]
    assert all(hook["secret"] not in json.dumps(e.details) for e in AuditLogEntry.objects.all())


def test_rotate_secret_shows_the_new_secret_once(client, ws, sink):
    hook = client.post(ws.url("webhooks/"), {"url": sink.url}).json()
    rotated = client.post(
        ws.url(f"webhooks/{hook['id']}/rotate-secret/"), {"overlap_seconds": 3600}, format="json"
    )
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != hook["secret"]
    assert body["previous_secret_expires_at"] is not None
    stored = WebhookSubscription.objects.get(pk=hook["id"])
    assert stored.secrets == {"current": body["secret"], "previous": hook["secret"]}
    assert "secret" not in client.get(ws.url(f"webhooks/{hook['id']}/")).json()

    none = client.post(ws.url(f"webhooks/{hook['id']}/rotate-secret/"), {"overlap_seconds": 0})
    assert none.json()["previous_secret_expires_at"] is None
    too_long = client.post(
        ws.url(f"webhooks/{hook['id']}/rotate-secret/"), {"overlap_seconds": 10**9}
    )
    assert too_long.status_code == 400


def test_deliveries_list_and_redeliver(client, ws, sink, clock, django_capture_on_commit_callbacks):
    hook = client.post(ws.url("webhooks/"), {"url": sink.url}).json()
    event = event_record(workspace=ws.workspace, type="contact.created", data={"id": "c"})
    sink.answer(500)
    subscription_deliver(subscription_id=hook["id"])

    listed = client.get(ws.url(f"webhooks/{hook['id']}/deliveries/")).json()
    (failed,) = listed["results"]
    assert {"id", "event", "attempt", "status_code", "ok", "duration_ms", "created_at"} <= set(
        failed
    )
    assert failed["event"] == str(event.pk)
    assert (failed["attempt"], failed["status_code"], failed["ok"]) == (1, 500, False)
    assert failed["response_excerpt"] == "error"
    assert failed["webhook_id"] == msg_id_for(event.pk)
    assert failed["next_attempt_at"] is not None

    sink.answer(200)
    clock.advance(timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            ws.url(f"webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver/")
        )
    assert response.status_code == 202
    assert response.json()["webhook_id"] == msg_id_for(event.pk)

    first, again = sink.requests()
    assert first["headers"]["webhook-id"] == again["headers"]["webhook-id"]
    assert first["body"] == again["body"]
    latest = client.get(ws.url(f"webhooks/{hook['id']}/deliveries/")).json()["results"][0]
    assert (latest["attempt"], latest["ok"], latest["trigger"]) == (2, True, "redelivery")
    assert WebhookDelivery.objects.filter(subscription_id=hook["id"]).count() == 2
    assert AuditLogEntry.objects.filter(action="webhook.redelivered").exists()


def test_a_delivery_of_another_webhook_is_not_found(client, ws, sink, clock):
    first = client.post(ws.url("webhooks/"), {"url": sink.url}).json()
    second = client.post(ws.url("webhooks/"), {"url": sink.url}).json()
    event_record(workspace=ws.workspace, type="contact.created", data={})
    subscription_deliver(subscription_id=first["id"])
    delivery = WebhookDelivery.objects.get(subscription_id=first["id"])
    response = client.post(ws.url(f"webhooks/{second['id']}/deliveries/{delivery.pk}/redeliver/"))
    assert response.status_code == 404
