"""Polling accounts and history backfill, through the services and the emulator."""

import pytest

from conversations.models import Conversation, Message
from crm.actors import Actor
from crm.services.workspaces import workspace_create
from integrations.emulator.scenarios import telegram_message
from integrations.models import BrandAccount, InboundEvent
from integrations.services.brand_accounts import brand_account_create
from integrations.services.polling import account_polls, brand_account_poll
from integrations.services.processing import inbound_events_drain
from tests.conftest import client_with

from .test_poll import _threads


@pytest.fixture
def owner(db):
    return workspace_create(slug="poll", name="Poll", owner_email="owner@poll.test")


@pytest.fixture
def point_at_emulator(settings, emu):
    settings.CAUSERIE_TELEGRAM_API_URL = emu.base_url
    settings.CAUSERIE_YOUTUBE_API_URL = emu.base_url


def connect(owner, creds, platform, **overrides):
    external_id, credentials = creds[platform]
    credentials = {k: str(v) for k, v in {**credentials, **overrides}.items() if v is not None}
    return brand_account_create(
        actor=Actor.for_member(owner.owner),
        platform=platform,
        name=platform,
        external_id=external_id,
        credentials=credentials,
    )


def test_telegram_without_a_webhook_secret_is_polled_and_confirmed(
    owner, creds, emu, point_at_emulator
):
    bot = connect(owner, creds, "telegram", secret_token=None)
    assert account_polls(bot)
    updates = [telegram_message(0, 555, 40 + n, f"message {n} 😀") for n in range(3)]
    for update in updates:
        del update["update_id"]
    emu.queue_telegram_updates(bot.external_id, updates)

    assert brand_account_poll(account_id=bot.pk) == 3
    assert brand_account_poll(account_id=bot.pk) == 0
    inbound_events_drain(budget_seconds=10)

    bot.refresh_from_db()
    assert bot.poll_cursor["offset"] > 0
    assert Message.objects.count() == 3
    assert Conversation.objects.get().thread_key == f"{bot.external_id}:555"


def test_telegram_with_a_webhook_secret_is_not_polled(owner, creds):
    bot = connect(owner, creds, "telegram")

    assert not account_polls(bot)
    assert brand_account_poll(account_id=bot.pk) == 0


def test_youtube_comments_are_polled_page_by_page(owner, creds, emu, point_at_emulator):
    channel = connect(owner, creds, "youtube")
    BrandAccount.objects.filter(pk=channel.pk).update(backfill_status="idle")
    emu.queue_youtube_threads(channel.external_id, _threads(120))

    stored = 0
    for _ in range(3):
        stored += brand_account_poll(account_id=channel.pk)
    inbound_events_drain(budget_seconds=20)

    assert stored == 120
    assert InboundEvent.objects.filter(status="processed").count() == 120
    assert Message.objects.count() == 120
    assert set(Conversation.objects.values_list("kind", flat=True)) == {"comment_thread"}


def test_backfill_where_the_platform_has_no_history_api_is_refused(owner, creds):
    account = connect(owner, creds, "whatsapp")

    response = client_with(owner.token).post(
        f"/api/v1/workspaces/poll/brand-accounts/{account.pk}/backfill/"
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "backfill_unavailable"
    account.refresh_from_db()
    assert account.backfill_status == "idle"
