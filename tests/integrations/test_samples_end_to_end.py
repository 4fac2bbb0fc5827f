"""Every CHANNELS.md sample and generated scenario, through the real endpoint and ingest.

For each platform, what the adapter says a body holds is what Causerie stores: one
message per platform message (in the thread and kind the platform's keys give, under
its parent), however often and in whatever order the bodies arrive.
"""

import json

import pytest

from conversations.models import Message
from integrations.adapters import get_adapter
from integrations.adapters.base import Direction, EventType
from integrations.emulator import scenarios, signing
from integrations.models import InboundEvent
from integrations.services.processing import inbound_events_drain

from .conftest import FIXTURES

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK_PLATFORMS = ["facebook", "instagram", "whatsapp", "x", "telegram"]


def _created_messages(platform, account, bodies):
    adapter = get_adapter(platform)
    found = {}
    for body in bodies:
        raw = body if isinstance(body, bytes) else signing.serialise(platform, body)
        for event in adapter.parse(raw, {}, account_external_id=account.external_id):
            # The documentation reuses some ids across samples; the first one is stored.
            if event.event_type == EventType.MESSAGE_CREATED and (
                event.direction == Direction.INBOUND
            ):
                found.setdefault(event.external_message_id or event.idempotency_key, event)
    return found


def _deliver_all(emu, platform, url, account, bodies):
    for body in bodies:
        if isinstance(body, bytes):
            answer = emu.deliver(platform, url, raw=body, account=account.external_id)
        else:
            answer = emu.deliver(platform, url, body, account=account.external_id)
        assert answer["status"] == 200, answer
    inbound_events_drain(budget_seconds=30)


@pytest.mark.parametrize("platform", WEBHOOK_PLATFORMS)
def test_every_documented_sample_is_stored_once_where_its_keys_say(platform, emu, account_for):
    account, url = account_for(platform)
    samples = list(json.loads((FIXTURES / f"{platform}.json").read_text()).values())
    expected = _created_messages(platform, account, samples)

    _deliver_all(emu, platform, url, account, samples)
    _deliver_all(emu, platform, url, account, samples)  # every sample redelivered

    assert not InboundEvent.objects.filter(status="failed").exists(), list(
        InboundEvent.objects.filter(status="failed").values_list("error", flat=True)
    )
    stored = {m.external_id: m for m in Message.objects.select_related("conversation", "parent")}
    for external_id, event in expected.items():
        message = stored[external_id]
        assert message.conversation.thread_key == event.thread_key
        assert message.conversation.kind == event.conversation_kind
        # The documentation's samples include edits of these messages: the text is the
        # original or, when an edit came, the edited one (with the original kept).
        if message.edits.exists():
            assert message.edits.filter(previous_text=event.text or "").exists()
        else:
            assert message.text == (event.text or "")
        if event.parent_external_id and event.parent_external_id in stored:
            assert message.parent.external_id == event.parent_external_id
    assert Message.objects.filter(direction="inbound").count() == len(expected)


@pytest.mark.parametrize("platform", [*WEBHOOK_PLATFORMS, "email", "api"])
def test_duplicated_reordered_batched_deliveries_store_each_message_once(
    platform, emu, account_for
):
    account, url = account_for(platform)
    scenario = scenarios.generate(
        platform,
        account_id=account.external_id,
        seed=11,
        conversations=3,
        duplicates=0.5,
        batch_size=3,
        shuffle=True,
    )
    expected = _created_messages(platform, account, scenario.deliveries)

    _deliver_all(emu, platform, url, account, scenario.deliveries)
    # Out-of-order events (an edit before its message) wait and are applied on retry.
    InboundEvent.objects.filter(status="pending").update(next_attempt_at=None)
    inbound_events_drain(budget_seconds=30)

    inbound = Message.objects.filter(direction="inbound")
    outcomes = list(InboundEvent.objects.values_list("status", "error", "attempts"))
    assert sorted(inbound.values_list("external_id", flat=True)) == sorted(expected), outcomes
    assert not InboundEvent.objects.filter(status="failed").exists()


@pytest.mark.parametrize("platform", [*WEBHOOK_PLATFORMS, "email", "api"])
@pytest.mark.parametrize("signature", ["invalid", "missing"])
def test_a_forged_or_unsigned_delivery_is_refused_and_nothing_is_stored(
    platform, signature, emu, account_for
):
    account, url = account_for(platform)
    body = scenarios.generate(platform, account_id=account.external_id, conversations=1)
    first = body.deliveries[0]

    if isinstance(first, bytes):
        answer = emu.deliver(
            platform, url, raw=first, account=account.external_id, signature=signature
        )
    else:
        answer = emu.deliver(platform, url, first, account=account.external_id, signature=signature)

    assert answer["status"] == 401
    assert not InboundEvent.objects.exists()
