"""Replay protection at the real webhook endpoint, by the time each platform's protocol
gives: Meta's ``entry[].time`` (Facebook, Instagram), X's event times, the api channel's
signed Standard Webhooks timestamp. Platforms whose protocol carries no send time
(Telegram, WhatsApp, email, Discourse) rely on the signature and on idempotent storage.
"""

import time
from datetime import timedelta

import pytest

from integrations.emulator import signing
from integrations.models import InboundEvent

from .payloads import message, wire

pytestmark = pytest.mark.django_db(transaction=True)

DAY_MS = 24 * 3600 * 1000


@pytest.fixture(autouse=True)
def replay_window(settings):
    settings.CAUSERIE_WEBHOOK_REPLAY_WINDOW = timedelta(days=7)


def _sent(platform: str, account: str, mid: str, sent_ms: int):
    """A customer message whose send time (where the protocol has one) is ``sent_ms``."""
    payload = message(platform, account, mid, "Bonjour")
    if platform in {"facebook", "instagram"}:
        # Messenger stamps milliseconds, Instagram's comment feeds seconds: both are read.
        payload["entry"][0]["time"] = sent_ms if platform == "facebook" else sent_ms // 1000
    elif platform == "x":
        payload["direct_message_events"][0]["created_timestamp"] = str(sent_ms)
    return payload


@pytest.mark.parametrize("platform", ["facebook", "instagram", "x"])
def test_a_body_sent_before_the_window_is_refused_and_not_stored(platform, emu, account_for):
    account, url = account_for(platform)
    now_ms = int(time.time() * 1000)

    fresh = emu.deliver(
        platform,
        url,
        raw=wire(platform, _sent(platform, account.external_id, "m1", now_ms)),
        account=account.external_id,
    )
    late_retry = emu.deliver(
        platform,
        url,
        raw=wire(platform, _sent(platform, account.external_id, "m2", now_ms - 6 * DAY_MS)),
        account=account.external_id,
    )
    replayed = emu.deliver(
        platform,
        url,
        raw=wire(platform, _sent(platform, account.external_id, "m3", now_ms - 8 * DAY_MS)),
        account=account.external_id,
    )

    assert fresh["status"] == late_retry["status"] == 200
    assert replayed["status"] == 401
    assert '"stale_webhook"' in replayed["body"]
    assert InboundEvent.objects.count() == 2


@pytest.mark.parametrize("platform", ["whatsapp", "telegram", "email", "discourse"])
def test_platforms_without_a_send_time_are_not_judged_by_message_times(platform, emu, account_for):
    account, url = account_for(platform)

    # The documentation's sample times are from 2024: a message written long ago, and
    # delivered now, is no replay by itself.
    answer = emu.deliver(
        platform,
        url,
        raw=wire(platform, message(platform, account.external_id, "m1", "Hi")),
        account=account.external_id,
    )

    assert answer["status"] == 200


def test_the_api_channel_refuses_a_signed_timestamp_older_than_five_minutes(emu, account_for):
    account, url = account_for("api")
    secret = account.credentials["secret"]
    body = wire("api", message("api", account.external_id, "m1", "Bonjour"))

    def deliver(age_seconds: int) -> dict:
        headers = signing.standard_webhooks_headers(
            secret, f"msg_{age_seconds}", body, timestamp=int(time.time()) - age_seconds
        )
        return emu.deliver("api", url, raw=body, account=account.external_id, extra_headers=headers)

    assert deliver(600)["status"] == 401
    assert deliver(10)["status"] == 200
    assert InboundEvent.objects.count() == 1
