"""Brand accounts through the API, and the inbound webhook endpoint over its raw bytes."""

import hashlib
import json

import pytest
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from crm.models import AuditLogEntry, Event
from integrations.emulator import signing
from integrations.models import BrandAccount, InboundEvent
from tests.conftest import client_with

FACEBOOK = {
    "platform": "facebook",
    "name": "Acme Page",
    "external_id": "1234567890",
    "credentials": {
        "page_access_token": "EAAB-page-token",
        "app_secret": "app-secret-42",
        "verify_token": "verify-me",
    },
}

MESSENGER_PAYLOAD = {
    "object": "page",
    "entry": [
        {
            "id": "1234567890",
            "time": 1718000000000,
            "messaging": [
                {
                    "sender": {"id": "PSID-1"},
                    "recipient": {"id": "1234567890"},
                    "timestamp": 1718000000000,
                    "message": {"mid": "m_1", "text": "Bonjour, où est ma commande ? 📦"},
                }
            ],
        }
    ],
}


@pytest.fixture
def page(ws, client):
    body = client.post(ws.url("brand-accounts/"), FACEBOOK, format="json").json()
    return BrandAccount.objects.get(pk=body["id"])


def test_credentials_are_write_only_and_encrypted_at_rest(ws, client):
    created = client.post(ws.url("brand-accounts/"), FACEBOOK, format="json")

    assert created.status_code == 201
    body = created.json()
    assert "credentials" not in body
    assert body["webhook_url"] == f"http://127.0.0.1:8000/api/v1/inbound/{body['id']}/"
    assert body["status"] == "active"
    stored = (
        BrandAccount.objects.filter(pk=body["id"])
        .annotate(raw=Cast("credentials", output_field=TextField()))
        .values_list("raw", flat=True)
        .get()
    )
    assert "app-secret-42" not in stored
    assert "EAAB" not in stored
    assert BrandAccount.objects.get(pk=body["id"]).credentials["app_secret"] == "app-secret-42"
    audit = AuditLogEntry.objects.get(action="brand_account.created")
    assert "app-secret-42" not in json.dumps(audit.details)
    assert Event.objects.filter(type="brand_account.updated").exists()


def test_missing_or_unknown_credentials_are_named(ws, client):
    response = client.post(
        ws.url("brand-accounts/"),
        {**FACEBOOK, "credentials": {"page_access_token": "x", "app_secrt": "typo"}},
        format="json",
    )

    assert response.status_code == 400
    problems = response.json()["error"]["details"]["credentials"]
    assert set(problems) == {"app_secret", "verify_token", "app_secrt"}
    assert not BrandAccount.objects.exists()


def test_the_same_account_twice_is_a_conflict(ws, client, page):
    again = client.post(ws.url("brand-accounts/"), FACEBOOK, format="json")

    assert again.status_code == 409


def test_credentials_update_merges_and_keeps_the_others(ws, client, page):
    response = client.patch(
        ws.url(f"brand-accounts/{page.pk}/"),
        {"credentials": {"app_secret": "rotated"}},
        format="json",
    )

    assert response.status_code == 200
    page.refresh_from_db()
    assert page.credentials["app_secret"] == "rotated"
    assert page.credentials["page_access_token"] == "EAAB-page-token"


def test_agents_see_accounts_but_only_admins_change_them(ws, page):
    _, token = ws.add_member("agent")
    agent = client_with(token)

    assert agent.get(ws.url("brand-accounts/")).status_code == 200
    assert agent.patch(ws.url(f"brand-accounts/{page.pk}/"), {"name": "x"}).status_code == 403
    assert agent.delete(ws.url(f"brand-accounts/{page.pk}/")).status_code == 403


def test_meta_handshake_echoes_the_challenge_only_with_the_verify_token(page, anon):
    url = f"/api/v1/inbound/{page.pk}/"
    good = anon.get(
        url,
        {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "verify-me"},
    )
    bad = anon.get(
        url, {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "guess"}
    )

    assert good.status_code == 200
    assert good.content == b"1158201444"
    assert bad.status_code in (401, 403)


def _post(anon, page, body: bytes, headers: dict):
    return anon.generic(
        "POST",
        f"/api/v1/inbound/{page.pk}/",
        body,
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )


def test_signed_webhook_is_stored_raw_and_answered_200(page, anon):
    body = signing.meta_body(MESSENGER_PAYLOAD)

    response = _post(anon, page, body, signing.meta_headers("app-secret-42", body))

    assert response.status_code == 200
    stored = InboundEvent.objects.get()
    assert bytes(stored.body) == body
    assert stored.status == "pending"
    assert stored.workspace_id == page.workspace_id


def test_a_stored_webhook_keeps_the_replay_headers_only_and_waits_to_be_processed(page, anon):
    body = signing.meta_body(MESSENGER_PAYLOAD)
    headers = {
        **signing.meta_headers("app-secret-42", body),
        "User-Agent": "facebookexternalua",
        "Cookie": "sessionid=abc",
        "X-Forwarded-For": "203.0.113.9",
    }
    before = timezone.now()

    assert _post(anon, page, body, headers).status_code == 200

    stored = InboundEvent.objects.get()
    assert stored.headers == {
        "content-type": "application/json",
        "x-hub-signature-256": headers["X-Hub-Signature-256"],
        "user-agent": "facebookexternalua",
    }
    assert stored.brand_account_id == page.pk
    assert stored.platform == "facebook"
    assert stored.body_sha256 == hashlib.sha256(body).hexdigest()
    assert (stored.status, stored.attempts, stored.error) == ("pending", 0, "")
    assert stored.next_attempt_at is None
    assert stored.processed_at is None
    assert before <= stored.received_at <= timezone.now()


def test_an_identical_redelivery_is_stored_once(page, anon):
    body = signing.meta_body(MESSENGER_PAYLOAD)
    headers = signing.meta_headers("app-secret-42", body)

    assert _post(anon, page, body, headers).status_code == 200
    assert _post(anon, page, body, headers).status_code == 200

    assert InboundEvent.objects.count() == 1


def test_bad_signature_is_401_and_nothing_is_stored(page, anon):
    body = signing.meta_body(MESSENGER_PAYLOAD)
    reserialised = json.dumps(MESSENGER_PAYLOAD, ensure_ascii=False).encode()

    wrong_secret = _post(anon, page, body, signing.meta_headers("not-the-secret", body))
    other_bytes = _post(anon, page, reserialised, signing.meta_headers("app-secret-42", body))
    unsigned = _post(anon, page, body, {})

    assert wrong_secret.status_code == other_bytes.status_code == unsigned.status_code == 401
    assert wrong_secret.json()["error"]["code"] == "invalid_signature"
    assert not InboundEvent.objects.exists()


def test_signed_garbage_is_400_and_not_stored(page, anon):
    body = b"{not json"

    response = _post(anon, page, body, signing.meta_headers("app-secret-42", body))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not InboundEvent.objects.exists()


def test_oversized_body_is_413(page, anon, settings):
    settings.CAUSERIE_INBOUND_MAX_BYTES = 1000
    body = signing.meta_body({"object": "page", "entry": [], "pad": "x" * 2000})

    response = _post(anon, page, body, signing.meta_headers("app-secret-42", body))

    assert response.status_code == 413
    assert not InboundEvent.objects.exists()


def test_unknown_or_disabled_account_is_404(page, anon, ws, client):
    body = signing.meta_body(MESSENGER_PAYLOAD)
    headers = signing.meta_headers("app-secret-42", body)
    client.patch(ws.url(f"brand-accounts/{page.pk}/"), {"status": "disabled"}, format="json")

    assert _post(anon, page, body, headers).status_code == 404
    assert not InboundEvent.objects.exists()


def test_failed_events_are_listed_and_replayable(ws, client, page):
    event = InboundEvent.objects.create(
        workspace=ws.workspace,
        brand_account=page,
        platform="facebook",
        body=b"{}",
        body_sha256="0" * 64,
        status="failed",
        attempts=5,
        error="boom",
    )

    listed = client.get(ws.url("inbound-events/?status=failed")).json()["results"]
    replayed = client.post(ws.url(f"inbound-events/{event.pk}/replay/"))
    again = client.post(ws.url(f"inbound-events/{event.pk}/replay/"))

    assert [e["id"] for e in listed] == [str(event.pk)]
    assert listed[0]["error"] == "boom"
    assert replayed.status_code == 202
    assert replayed.json()["status"] == "pending"
    assert again.status_code == 409
    assert client.get(ws.url("inbound-events/?status=bogus")).status_code == 400


@pytest.mark.parametrize(
    "callback_url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8000/admin",
        "file:///etc/passwd",
    ],
)
def test_an_api_channel_cannot_point_replies_at_internal_addresses(
    ws, client, settings, callback_url
):
    settings.CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS = False

    response = client.post(
        ws.url("brand-accounts/"),
        {
            "platform": "api",
            "name": "Helpdesk",
            "external_id": "helpdesk",
            "credentials": {
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "callback_url": callback_url,
            },
        },
        format="json",
    )

    assert response.status_code == 400
    assert "callback_url" in response.json()["error"]["details"]["credentials"]
    assert not BrandAccount.objects.exists()
