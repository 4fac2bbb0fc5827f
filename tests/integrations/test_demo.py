"""The README's demo: the emulator feeds the demo workspace live, over real HTTP."""

import io

import pytest
from django.core.management import call_command

from conversations.models import Message
from integrations.models import BrandAccount
from integrations.services.processing import inbound_events_drain

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_emulator_feed_turns_into_conversations(live_server, settings):
    settings.CAUSERIE_PUBLIC_URL = live_server.url
    call_command("demo_workspace", stdout=io.StringIO())
    call_command("demo_channels", stdout=io.StringIO())
    assert set(BrandAccount.objects.values_list("platform", flat=True)) == {
        "facebook",
        "instagram",
        "whatsapp",
        "telegram",
        "discourse",
        "wordpress",
    }

    out = io.StringIO()
    # Two rounds: every account hears from a customer twice.
    call_command("run_emulator", port=0, feed="demo", interval=0, count=12, stdout=out)
    inbound_events_drain(budget_seconds=10)

    assert out.getvalue().count("delivered (200)") == 10, out.getvalue()
    assert out.getvalue().count("wordpress: polled (1 new)") == 2, out.getvalue()
    from integrations.models import InboundEvent

    outcomes = list(InboundEvent.objects.values_list("platform", "status", "error"))
    assert all(status == "processed" for _, status, _ in outcomes), outcomes
    assert Message.objects.filter(direction="inbound").count() == 12
    by_platform = Message.objects.values_list("conversation__platform", flat=True)
    assert sorted(set(by_platform)) == sorted(
        BrandAccount.objects.values_list("platform", flat=True)
    )


def test_demo_channels_is_idempotent(db):
    call_command("demo_workspace", stdout=io.StringIO())
    call_command("demo_channels", stdout=io.StringIO())
    call_command("demo_channels", stdout=io.StringIO())

    assert BrandAccount.objects.count() == 6
