"""The benchmark dataset is what the services would have made (checked at a tiny size)."""

import time

import pytest
from rest_framework.test import APIClient

from bench.dataset import SIZES, generate, thread_lengths
from contacts.models import Contact, Identity
from contacts.services.contacts import contact_denormalize
from conversations.models import Conversation, Message, MessageEdit
from integrations.emulator.scenarios import messenger_message, page_envelope
from integrations.emulator.signing import meta_body
from integrations.models import InboundEvent
from integrations.services.processing import inbound_events_drain

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def quiet(*args):
    pass


def test_thread_lengths_are_skewed_and_sum_to_the_total():
    import random

    lengths = thread_lengths(1000, 10_000, random.Random(1))
    assert sum(lengths) == 10_000
    assert min(lengths) >= 1
    assert max(lengths) >= 20 * (sum(lengths) / len(lengths))  # a few very long threads
    assert sorted(lengths)[len(lengths) // 2] <= 5  # many short ones


@pytest.fixture
def built():
    return generate("tiny", slug="bench-tiny", log=quiet)


def test_counts_and_identities(built):
    size = SIZES["tiny"]
    ws = built.workspace
    assert Contact.objects.filter(workspace=ws).count() == size.contacts
    assert Conversation.objects.filter(workspace=ws).count() == size.conversations
    assert Message.objects.filter(workspace=ws).count() == size.messages
    assert built.counts["Message"] == size.messages
    per_contact = {}
    for contact_id in Identity.objects.filter(workspace=ws).values_list("contact_id", flat=True):
        per_contact[contact_id] = per_contact.get(contact_id, 0) + 1
    assert len(per_contact) == size.contacts
    assert set(per_contact.values()) <= {1, 2, 3}
    platforms = set(Conversation.objects.filter(workspace=ws).values_list("platform", flat=True))
    assert len(platforms) >= 5


def test_contact_search_columns_are_the_services(built):
    for contact in Contact.objects.filter(workspace=built.workspace):
        stored = (contact.search_text, contact.phone_key, contact.tag_keys)
        contact_denormalize(contact)
        assert stored == (contact.search_text, contact.phone_key, contact.tag_keys)


def test_inbox_columns_follow_the_messages(built):
    for conversation in Conversation.objects.filter(workspace=built.workspace):
        messages = list(
            Message.objects.filter(conversation=conversation, private=False).order_by(
                "created_at", "id"
            )
        )
        last = messages[-1]
        assert conversation.last_message_at == last.created_at
        assert conversation.last_message_direction == last.direction
        inbound = [m for m in messages if m.direction == "inbound"]
        assert conversation.last_inbound_at == (inbound[-1].created_at if inbound else None)
        unread = 0
        for message in messages:
            unread = unread + 1 if message.direction == "inbound" else 0
        assert conversation.unread_count == unread
        if conversation.status == "resolved" or last.direction == "outbound":
            assert conversation.waiting_since is None
        else:
            assert conversation.waiting_since is not None
        assert conversation.created_at <= messages[0].created_at
    edited = Message.objects.filter(workspace=built.workspace, edited_at__isnull=False)
    assert edited.count() == MessageEdit.objects.filter(workspace=built.workspace).count()


def test_inbox_api_returns_the_generated_open_queue_in_order(built):
    expected = sorted(
        Conversation.objects.filter(workspace=built.workspace, status="open"),
        key=lambda c: (c.waiting_since is None, c.waiting_since or c.created_at, c.pk),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {built.agent_token}")
    response = client.get(
        f"/api/v1/workspaces/{built.workspace.slug}/conversations/?status=open&page_size=100"
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(c.pk) for c in expected]


def test_ingest_finds_the_generated_threads(built):
    """A Messenger message on a generated thread lands in it: no new contact or thread."""
    account = built.brand_accounts["facebook"]
    conversation = (
        Conversation.objects.filter(brand_account=account, kind="direct")
        .exclude(thread_key__contains=":direct:")
        .first()
    )
    assert conversation is not None
    psid = conversation.thread_key.split(":", 1)[1]
    contacts, conversations = Contact.objects.count(), Conversation.objects.count()
    body = meta_body(
        page_envelope(
            account.external_id,
            messaging=[
                messenger_message(
                    account.external_id,
                    psid,
                    "m_bench_test",
                    "Allô ?",
                    timestamp_ms=int(time.time() * 1000),
                )
            ],
        )
    )
    InboundEvent.objects.create(
        workspace=built.workspace,
        brand_account=account,
        platform="facebook",
        body=body,
        body_sha256="x" * 64,
    )
    assert inbound_events_drain(budget_seconds=30) == 1
    assert InboundEvent.objects.get(body_sha256="x" * 64).status == "processed"
    assert (Contact.objects.count(), Conversation.objects.count()) == (contacts, conversations)
    conversation.refresh_from_db()
    assert conversation.last_message_preview == "Allô ?"
    assert Message.objects.filter(conversation=conversation, external_id="m_bench_test").exists()
