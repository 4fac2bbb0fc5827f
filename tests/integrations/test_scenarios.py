"""Generated conversations, delivered over HTTP with batching, duplicates and shuffling."""

from __future__ import annotations

import json
from typing import Any

import pytest

from integrations.adapters import get_adapter
from integrations.emulator import scenarios
from integrations.emulator.client import EmulatorClient

WEBHOOK_PLATFORMS = [
    "facebook",
    "instagram",
    "whatsapp",
    "x",
    "telegram",
    "api",
    "email",
    "discourse",
]


@pytest.mark.parametrize("platform", WEBHOOK_PLATFORMS)
def test_redelivered_shuffled_batches_dedupe_to_the_unique_events_case(
    platform: str, emu: EmulatorClient, receiver: Any, creds: dict[str, Any]
) -> None:
    account = creds[platform][0]
    scenario = scenarios.generate(
        platform,
        account_id=account,
        seed=7,
        conversations=3,
        duplicates=0.5,
        batch_size=3,
        shuffle=True,
    )
    assert len(scenario.deliveries) > 0
    server = receiver(platform)
    for delivery in scenario.deliveries:
        payload = delivery.decode() if isinstance(delivery, bytes) else delivery
        assert emu.deliver(platform, server.url, payload, account=account)["status"] == 200
    keys = [event.idempotency_key for event in server.events]
    assert len(set(keys)) == scenario.unique_events
    assert len(keys) >= scenario.unique_events  # Duplicates arrived and were recognisable.
    assert all(event.account_external_id == account for event in server.events)
    assert all(event.platform_created_at.tzinfo is not None for event in server.events)


def test_scenarios_cover_the_event_kinds() -> None:
    scenario = scenarios.generate("facebook", account_id="104000000000001", conversations=1)
    adapter = get_adapter("facebook")
    events = [
        event
        for body in scenario.deliveries
        for event in adapter.parse(
            json.dumps(body).encode(), {}, account_external_id="104000000000001"
        )
    ]
    kinds = {event.event_type for event in events}
    assert kinds >= {
        "message.created",
        "message.edited",
        "message.deleted",
        "reaction.added",
        "receipt.delivered",
        "receipt.read",
    }
    assert any(event.direction == "outbound" for event in events)
    assert any(event.attachments for event in events)
    assert any(event.parent_external_id for event in events)


def test_telegram_is_never_batched() -> None:
    with pytest.raises(ValueError):
        scenarios.batch("telegram", [{"update_id": 1}, {"update_id": 2}])


def test_sink_captures_exact_bytes(emu: EmulatorClient, creds: dict[str, Any]) -> None:
    account, credentials = creds["whatsapp"]
    payload = scenarios.whatsapp_envelope(
        "1", account, messages=[scenarios.whatsapp_text("33612345678", "wamid.A", "Ça va ? 🙂")]
    )
    emu.deliver("whatsapp", emu.sink_url("wa"), payload, account=account)
    [captured] = emu.sink_requests("wa")
    headers = captured["headers"]
    assert get_adapter("whatsapp").verify(headers, captured["body"], credentials)
    assert b"\\u00c7a va ? \\ud83d\\ude42" in captured["body"]  # ASCII-escaped, as Meta sends it.
    [event] = get_adapter("whatsapp").parse(captured["body"], headers, account_external_id=account)
    assert event.text == "Ça va ? 🙂"
