"""Platform webhooks end to end: the emulator signs and POSTs over real HTTP to Causerie's
endpoint, processing turns the stored events into contacts, conversations and messages."""

import time

import pytest

from contacts.models import Contact, Identity
from conversations.models import Conversation, Message
from crm.actors import Actor
from crm.models import ApiKey
from crm.services.workspaces import api_key_create, workspace_create
from integrations.emulator import scenarios
from integrations.models import InboundEvent
from integrations.services import processing
from integrations.services.brand_accounts import brand_account_create
from integrations.services.processing import inbound_events_drain
from integrations.tasks import process_inbound_events_task
from tests.conftest import client_with

from .conftest import load_fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connect(live_server, creds):
    """Connect a brand account of ``platform`` with the emulator's test credentials."""
    created = workspace_create(slug="brand", name="Brand", owner_email="owner@brand.test")
    actor = Actor.for_member(created.owner)

    def make(platform: str):
        external_id, credentials = creds[platform]
        account = brand_account_create(
            actor=actor,
            platform=platform,
            name=f"Brand on {platform}",
            external_id=external_id,
            credentials={k: str(v) for k, v in credentials.items()},
        )
        return account, f"{live_server.url}/api/v1/inbound/{account.pk}/"

    return make


def deliver(emu, platform, url, account, payload, *, signature="valid"):
    answer = emu.deliver(platform, url, payload, account=account.external_id, signature=signature)
    inbound_events_drain(budget_seconds=10)
    return answer["status"]


def test_messenger_dm_creates_contact_conversation_and_message_once(emu, connect):
    account, url = connect("facebook")
    dm = load_fixture("facebook", "dm_text")

    assert deliver(emu, "facebook", url, account, dm) == 200
    assert deliver(emu, "facebook", url, account, dm) == 200

    identity = Identity.objects.get()
    assert identity.external_id == "6000000000000001"
    # PSIDs are scoped to the Page: the identity carries the brand account.
    assert identity.brand_account_id == account.pk
    conversation = Conversation.objects.get()
    assert conversation.kind == "direct"
    assert conversation.thread_key == "104000000000001:6000000000000001"
    assert conversation.contact_id == identity.contact_id
    message = Message.objects.get()
    assert (message.direction, message.text, message.external_id) == (
        "inbound",
        "Hi, is my order shipped?",
        "m_AbCdEf123",
    )
    assert InboundEvent.objects.filter(status="processed").count() == 1


def test_messenger_edit_reaction_and_native_echo_apply_to_the_thread(emu, connect):
    account, url = connect("facebook")
    reaction = load_fixture("facebook", "reaction")
    reaction["entry"][0]["messaging"][0]["reaction"]["mid"] = "m_AbCdEf123"
    for sample in ("dm_text", "edit", "echo"):
        assert deliver(emu, "facebook", url, account, load_fixture("facebook", sample)) == 200
    assert deliver(emu, "facebook", url, account, reaction) == 200

    inbound = Message.objects.get(direction="inbound")
    assert inbound.edited_at is not None
    assert inbound.edits.count() == 1
    assert inbound.reactions.count() == 1
    echo = Message.objects.get(direction="outbound")
    assert (echo.author_type, echo.status) == ("brand", "sent")
    assert Conversation.objects.count() == 1


def test_whatsapp_messages_thread_by_number_and_name_the_contact(emu, connect):
    account, url = connect("whatsapp")
    image = load_fixture("whatsapp", "image")
    # The documentation's two samples reuse one wamid; give the image its own.
    image["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.IMAGE"
    assert deliver(emu, "whatsapp", url, account, load_fixture("whatsapp", "text")) == 200
    assert deliver(emu, "whatsapp", url, account, image) == 200

    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 2
    contact = Contact.objects.get()
    assert contact.name == "Sheena Nelson"
    image = Message.objects.exclude(attachments=[]).get()
    assert image.attachments[0]["kind"] == "image"


def test_instagram_comment_replies_are_threaded_under_their_parent(emu, connect):
    account, url = connect("instagram")
    for sample in ("comment_ig_login", "mention"):
        assert deliver(emu, "instagram", url, account, load_fixture("instagram", sample)) == 200

    kinds = set(Conversation.objects.values_list("kind", flat=True))
    assert kinds <= {"comment_thread", "mention"}
    assert Message.objects.count() >= 1


def test_telegram_reply_points_at_its_parent(emu, connect):
    account, url = connect("telegram")
    for sample in ("message", "photo_reply"):
        assert deliver(emu, "telegram", url, account, load_fixture("telegram", sample)) == 200

    reply = Message.objects.filter(parent__isnull=False).first()
    if reply is not None:
        assert reply.parent.conversation_id == reply.conversation_id
    assert Message.objects.count() == 2


def test_x_dm_and_mention_reply(emu, connect):
    account, url = connect("x")
    dm = load_fixture("x", "dm")
    # The documentation's DM sample is addressed to another account; address it to ours.
    dm["for_user_id"] = account.external_id
    dm["direct_message_events"][0]["message_create"]["target"]["recipient_id"] = account.external_id
    assert deliver(emu, "x", url, account, dm) == 200
    assert deliver(emu, "x", url, account, load_fixture("x", "mention_reply")) == 200

    assert Message.objects.filter(direction="inbound").count() == 2
    assert set(Conversation.objects.values_list("kind", flat=True)) <= {
        "direct",
        "mention",
        "comment_thread",
    }


def test_a_wrong_signature_is_refused_and_nothing_is_stored(emu, connect):
    account, url = connect("facebook")

    status = deliver(
        emu, "facebook", url, account, load_fixture("facebook", "dm_text"), signature="invalid"
    )

    assert status == 401
    assert not InboundEvent.objects.exists()
    assert not Message.objects.exists()


def test_a_receipt_before_its_message_waits_instead_of_failing(emu, connect):
    account, url = connect("whatsapp")

    deliver(emu, "whatsapp", url, account, load_fixture("whatsapp", "status_read"))

    event = InboundEvent.objects.get()
    assert event.status == "pending"
    assert event.next_attempt_at is not None
    assert "not stored yet" in event.error


def test_a_worker_dying_mid_batch_loses_and_doubles_nothing(emu, connect, monkeypatch):
    account, url = connect("facebook")
    original = processing._parse
    calls = {"n": 0}

    def dies_on_the_third(event):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return original(event)

    # Store three distinct messages without processing them.
    monkeypatch.setattr(processing, "inbound_events_drain", lambda **kwargs: 0)
    for i in range(3):
        dm = load_fixture("facebook", "dm_text")
        dm["entry"][0]["messaging"][0]["message"]["mid"] = f"m_{i}"
        emu.deliver("facebook", url, dm, account=account.external_id)
    monkeypatch.undo()
    assert InboundEvent.objects.filter(status="pending").count() == 3

    monkeypatch.setattr(processing, "_parse", dies_on_the_third)
    with pytest.raises(SystemExit):
        processing.inbound_events_process_batch()
    # The batch's transaction rolled back: nothing half-written, everything still pending.
    assert Message.objects.count() == 0
    assert InboundEvent.objects.filter(status="pending").count() == 3

    monkeypatch.setattr(processing, "_parse", original)
    processing.inbound_events_drain(budget_seconds=10)
    processing.inbound_events_drain(budget_seconds=10)

    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["m_0", "m_1", "m_2"]
    assert Conversation.objects.count() == 1
    assert InboundEvent.objects.filter(status="processed").count() == 3


def test_a_drain_out_of_time_queues_the_next_one_so_no_event_waits_for_beat(
    emu, connect, monkeypatch
):
    account, url = connect("facebook")
    monkeypatch.setattr(processing, "inbound_events_drain", lambda **kwargs: 0)
    for i in range(5):
        dm = load_fixture("facebook", "dm_text")
        dm["entry"][0]["messaging"][0]["message"]["mid"] = f"m_{i}"
        emu.deliver("facebook", url, dm, account=account.external_id)
    monkeypatch.undo()
    assert InboundEvent.objects.filter(status="pending").count() == 5

    # Each drain now has time for one batch of two events: five need three drains, and
    # only the first is queued from outside.
    drain = processing.inbound_events_drain
    monkeypatch.setattr(processing, "DRAIN_SECONDS", 0.0)
    monkeypatch.setattr(processing, "BATCH_SIZE", 2)
    monkeypatch.setattr(
        processing, "inbound_events_drain", lambda **kwargs: drain(budget_seconds=0.0)
    )
    process_inbound_events_task.delay()

    assert InboundEvent.objects.filter(status="processed").count() == 5
    assert Message.objects.count() == 5


def test_a_reply_goes_out_and_its_status_follows_the_platforms_receipts(emu, connect, settings):

    settings.CAUSERIE_GRAPH_API_URL = emu.base_url
    account, url = connect("whatsapp")
    now = int(time.time())
    inbound = scenarios.whatsapp_envelope(
        "102290129340398",
        account.external_id,
        messages=[scenarios.whatsapp_text("33612345678", "wamid.IN1", "Bonjour !", timestamp=now)],
        contacts=[("33612345678", "Camille Martin")],
    )
    assert deliver(emu, "whatsapp", url, account, inbound) == 200
    conversation = Conversation.objects.get()
    owner_actor = Actor.for_api_key(ApiKey.objects.get(workspace=account.workspace))
    token = api_key_create(
        actor=owner_actor, name="agent tool", key_scopes=["messages:send"], expires_at=None
    ).token

    response = client_with(token).post(
        f"/api/v1/workspaces/brand/conversations/{conversation.pk}/messages/",
        {"text": "Bonjour Camille, nous vérifions votre commande."},
        format="json",
    )

    assert response.status_code == 202
    reply = Message.objects.get(pk=response.json()["id"])
    assert reply.status == "sent"
    sent = emu.last_request("whatsapp")["body"]
    assert sent["to"].lstrip("+") == "33612345678"
    assert sent["text"]["body"] == "Bonjour Camille, nous vérifions votre commande."
    for status in ("delivered", "read"):
        receipt = scenarios.whatsapp_envelope(
            "102290129340398",
            account.external_id,
            statuses=[
                scenarios.whatsapp_status(reply.external_id, status, "33612345678", timestamp=now)
            ],
        )
        assert deliver(emu, "whatsapp", url, account, receipt) == 200
    reply.refresh_from_db()
    assert reply.status == "read"
    # A late "delivered" never moves a read message back.
    late = scenarios.whatsapp_envelope(
        "102290129340398",
        account.external_id,
        statuses=[
            scenarios.whatsapp_status(
                reply.external_id, "delivered", "33612345678", timestamp=now + 1
            )
        ],
    )
    deliver(emu, "whatsapp", url, account, late)
    reply.refresh_from_db()
    assert reply.status == "read"
