"""Connecting an account pulls its recent history in, through the same idempotent ingest."""

import time

import pytest

from conversations.models import Conversation, Message
from crm.services.workspaces import workspace_create
from integrations.emulator.scenarios import facebook_history
from integrations.models import BrandAccount
from integrations.services.processing import inbound_events_drain
from tests.conftest import client_with

pytestmark = pytest.mark.django_db(transaction=True)


def test_connecting_a_page_backfills_comments_and_messenger_threads(emu, creds, settings):
    settings.CAUSERIE_GRAPH_API_URL = emu.base_url
    created = workspace_create(slug="bf", name="Backfill", owner_email="owner@bf.test")
    page_id, credentials = creds["facebook"]
    history = facebook_history(page_id, posts=3, conversations=4, newest=time.time() - 3600)
    emu.queue_facebook_feed(page_id, history.threads)
    emu.queue_facebook_conversations(page_id, history.conversations)
    client = client_with(created.token)

    response = client.post(
        "/api/v1/workspaces/bf/brand-accounts/",
        {
            "platform": "facebook",
            "name": "Page",
            "external_id": page_id,
            "credentials": credentials,
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["backfill"]["status"] == "running"
    account = BrandAccount.objects.get()
    assert account.backfill_status == "done"
    assert account.backfill_items == history.comments + history.messages
    inbound_events_drain(budget_seconds=30)

    assert Message.objects.count() == history.comments + history.messages
    kinds = set(Conversation.objects.values_list("kind", flat=True))
    assert kinds == {"comment_thread", "direct"}
    shown = client.get(f"/api/v1/workspaces/bf/brand-accounts/{account.pk}/").json()
    assert shown["backfill"]["status"] == "done"
    assert shown["backfill"]["items"] == history.comments + history.messages

    # Backfilling again finds the same items: nothing is stored twice.
    again = client.post(f"/api/v1/workspaces/bf/brand-accounts/{account.pk}/backfill/")
    assert again.status_code == 202
    inbound_events_drain(budget_seconds=30)
    assert Message.objects.count() == history.comments + history.messages


def test_a_backfill_already_running_is_a_conflict(creds, db):
    created = workspace_create(slug="bf2", name="Backfill", owner_email="owner@bf2.test")
    page_id, credentials = creds["facebook"]
    account = BrandAccount.objects.create(
        workspace=created.workspace,
        platform="facebook",
        name="Page",
        external_id=page_id,
        credentials=credentials,
        backfill_status="running",
    )

    response = client_with(created.token).post(
        f"/api/v1/workspaces/bf2/brand-accounts/{account.pk}/backfill/"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "backfill_running"
