"""Authenticity checks and handshakes, directly and through emulated deliveries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from integrations.adapters import api as api_adapter
from integrations.adapters import get_adapter
from integrations.emulator import signing
from integrations.emulator.client import EmulatorClient
from integrations.emulator.scenarios import discourse_post, email_message

from .conftest import load_fixture

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_PAYLOAD = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_standard_webhooks_test_vector_adapter_and_emulator() -> None:
    assert (
        api_adapter.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD)
        == VECTOR_SIGNATURE
    )
    emulated = signing.standard_webhooks_signature(
        VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD
    )
    assert emulated == VECTOR_SIGNATURE


def test_standard_webhooks_verify_vector_within_tolerance_only() -> None:
    headers = {
        "Webhook-Id": VECTOR_ID,
        "Webhook-Timestamp": str(VECTOR_TIMESTAMP),
        "Webhook-Signature": f"v1,bogus {VECTOR_SIGNATURE}",
    }
    assert api_adapter.verify_signature(
        VECTOR_SECRET, headers, VECTOR_PAYLOAD, now=VECTOR_TIMESTAMP + 10
    )
    # Five minutes later the same request is a replay.
    assert not api_adapter.verify_signature(
        VECTOR_SECRET, headers, VECTOR_PAYLOAD, now=VECTOR_TIMESTAMP + 301
    )
    tampered = VECTOR_PAYLOAD.replace(b"2432232314", b"2432232315")
    assert not api_adapter.verify_signature(
        VECTOR_SECRET, headers, tampered, now=VECTOR_TIMESTAMP + 10
    )


SAMPLES: dict[str, Any] = {
    "facebook": load_fixture("facebook", "dm_text"),
    "instagram": load_fixture("instagram", "dm_text"),
    "whatsapp": load_fixture("whatsapp", "text"),
    "x": load_fixture("x", "dm"),
    "telegram": load_fixture("telegram", "message"),
    "api": {
        "type": "message.created",
        "id": "m1",
        "thread": "t1",
        "created_at": "2024-06-10T10:00:00Z",
    },
    "email": email_message(
        sender="Jeanne <jeanne@client.example>",
        to="support@brand.example",
        subject="Où est mon colis ? 📦",
        text="Bonjour, où est mon colis ?",
        message_id="<a1@client.example>",
    ),
    "discourse": discourse_post(7, 3, 1, "Où est mon colis ? 📦", user_id=5, username="jeanne"),
}
SECRETS = {
    "facebook": {"app_secret": "s3cret"},
    "instagram": {"app_secret": "s3cret"},
    "whatsapp": {"app_secret": "s3cret"},
    "x": {"consumer_secret": "s3cret"},
    "telegram": {"secret_token": "s3cret_token-1"},
    "api": {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    "email": {"inbound_secret": "s3cret"},
    "discourse": {"webhook_secret": "s3cret"},
}
WRONG = {
    "facebook": {"app_secret": "other"},
    "instagram": {"app_secret": "other"},
    "whatsapp": {"app_secret": "other"},
    "x": {"consumer_secret": "other"},
    "telegram": {"secret_token": "other"},
    "api": {"secret": "whsec_b3RoZXItc2VjcmV0LWtleQ=="},
    "email": {"inbound_secret": "other"},
    "discourse": {"webhook_secret": "other"},
}


@pytest.mark.parametrize("platform", sorted(SAMPLES))
def test_verify_accepts_right_and_refuses_wrong_signature_case(platform: str) -> None:
    adapter = get_adapter(platform)
    body, headers = signing.sign_delivery(platform, SAMPLES[platform], SECRETS[platform])
    assert adapter.verify(headers, body, SECRETS[platform])
    # Header names are case-insensitive.
    assert adapter.verify({k.upper(): v for k, v in headers.items()}, body, SECRETS[platform])
    assert adapter.verify({k.lower(): v for k, v in headers.items()}, body, SECRETS[platform])
    wrong_body, wrong_headers = signing.sign_delivery(platform, SAMPLES[platform], WRONG[platform])
    assert not adapter.verify(wrong_headers, wrong_body, SECRETS[platform])
    signature = signing.SIGNATURE_HEADERS[platform]
    assert not adapter.verify(
        {k: v for k, v in headers.items() if k != signature}, body, SECRETS[platform]
    )
    assert not adapter.verify(headers, body, {})


@pytest.mark.parametrize(
    "platform", ["facebook", "instagram", "whatsapp", "x", "api", "email", "discourse"]
)
def test_verify_refuses_reserialised_body_case(platform: str) -> None:
    adapter = get_adapter(platform)
    sample = (
        dict(SAMPLES["api"], text="Ça coûte combien ? 😍")
        if platform == "api"
        else SAMPLES[platform]
    )
    body, headers = signing.sign_delivery(platform, sample, SECRETS[platform])
    if platform == "email":
        reserialised = (
            body.replace(b"\n", b"\r\n") if b"\r\n" not in body else body.replace(b"\r\n", b"\n")
        )
    else:
        # What a framework that parsed the JSON would hand over: different bytes.
        reserialised = json.dumps(
            json.loads(body), ensure_ascii=platform in {"x", "api", "discourse"}
        ).encode()
    assert reserialised != body
    assert not adapter.verify(headers, reserialised, SECRETS[platform])


def test_meta_signature_over_escaped_unicode_and_slashes() -> None:
    payload = {"object": "page", "entry": [{"id": "1", "text": "äöå https://x/y"}]}
    body, headers = signing.sign_delivery(
        "facebook", payload, SECRETS["facebook"], escape_slashes=True
    )
    assert b"\\u00e4\\u00f6\\u00e5" in body
    assert b"https:\\/\\/x\\/y" in body
    assert get_adapter("facebook").verify(headers, body, SECRETS["facebook"])


def test_telegram_refuses_webhooks_in_polling_mode() -> None:
    body, headers = signing.sign_delivery("telegram", SAMPLES["telegram"], SECRETS["telegram"])
    assert not get_adapter("telegram").verify(headers, body, {"bot_token": "1:x"})


def test_youtube_and_email_have_no_handshake() -> None:
    for platform in ("telegram", "youtube", "email", "api"):
        assert get_adapter(platform).handshake({"hub.challenge": "1"}, {}) is None


def test_meta_handshake_echoes_challenge_only_with_right_token() -> None:
    adapter = get_adapter("facebook")
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "tok"}
    answer = adapter.handshake(query, {"verify_token": "tok"})
    assert answer is not None
    assert (answer.status, answer.body) == (200, b"1158201444")
    refused = adapter.handshake({**query, "hub.verify_token": "nope"}, {"verify_token": "tok"})
    assert refused is not None
    assert refused.status == 403
    wrong_mode = adapter.handshake({**query, "hub.mode": "unsubscribe"}, {"verify_token": "tok"})
    assert wrong_mode is not None
    assert wrong_mode.status == 403


def test_x_crc_response_token() -> None:
    answer = get_adapter("x").handshake({"crc_token": "abc"}, {"consumer_secret": "s3cret"})
    assert answer is not None
    assert answer.status == 200
    assert json.loads(answer.body) == {"response_token": signing.x_crc_response("s3cret", "abc")}


@pytest.mark.parametrize("platform", ["facebook", "instagram", "whatsapp", "x"])
def test_emulated_handshake_against_receiver_case(
    platform: str, emu: EmulatorClient, receiver: Any, creds: dict[str, Any]
) -> None:
    server = receiver(platform)
    account = creds[platform][0]
    assert emu.handshake(platform, server.url, account=account)["ok"] is True
    if platform != "x":
        refused = emu.handshake(platform, server.url, account=account, verify_token="wrong")
        assert (refused["ok"], refused["status"]) == (False, 403)


@pytest.mark.parametrize(
    "platform", ["facebook", "instagram", "whatsapp", "x", "telegram", "api", "email", "discourse"]
)
def test_emulated_delivery_is_verified_and_parsed_case(
    platform: str, emu: EmulatorClient, receiver: Any, creds: dict[str, Any]
) -> None:
    server = receiver(platform)
    account = creds[platform][0]
    payload = _payload_for(platform, account)
    good = emu.deliver(platform, server.url, payload, account=account)
    bad = emu.deliver(platform, server.url, payload, account=account, signature="invalid")
    missing = emu.deliver(platform, server.url, payload, account=account, signature="missing")
    assert (good["status"], bad["status"], missing["status"]) == (200, 401, 401)
    assert len(server.events) == 1
    assert server.refused == 2


def _payload_for(platform: str, account: str) -> Any:
    if platform == "email":
        return SAMPLES["email"].decode()
    sample = json.loads(json.dumps(SAMPLES[platform]))
    if platform in {"facebook", "instagram"}:
        sample["entry"][0]["id"] = account
    elif platform == "whatsapp":
        sample["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = account
    elif platform == "x":
        sample["for_user_id"] = account
    return sample


def test_emulated_meta_delivery_of_raw_bytes_keeps_signature(
    emu: EmulatorClient, receiver: Any, creds: dict[str, Any]
) -> None:
    server = receiver("facebook")
    raw = json.dumps(_payload_for("facebook", creds["facebook"][0]), ensure_ascii=False).encode()
    answer = emu.deliver("facebook", server.url, raw=raw, account=creds["facebook"][0])
    assert answer["status"] == 200
    assert len(server.events) == 1
