"""Discourse forums end to end: the emulator signs topic and post webhooks and POSTs them
over real HTTP to Causerie's endpoint; replies go out through the emulated posts API."""

import random

import httpx
import pytest

from contacts.models import Contact, Identity
from conversations.models import Conversation, Message
from integrations.adapters import RateLimited
from integrations.adapters.discourse import raise_for_discourse_error
from integrations.emulator import scenarios
from integrations.models import BrandAccount, InboundEvent
from integrations.services import outbound
from integrations.services.processing import inbound_events_drain
from tests.conftest import client_with

from .conftest import queued_reply

pytestmark = pytest.mark.django_db(transaction=True)

TOPIC = 300
JANE = {"user_id": 41, "username": "jane", "name": "Jane Doe"}
BOB = {"user_id": 42, "username": "bob", "name": "Bob Martin"}


@pytest.fixture
def forum(live_server, make_workspace, creds, emu, settings):
    """A workspace with the test forum connected through the API, played by the emulator."""
    settings.CAUSERIE_DISCOURSE_API_URL = emu.base_url
    settings.CAUSERIE_SEND_RATE_LIMITS = {}
    ws = make_workspace("forum")
    external_id, credentials = creds["discourse"]
    response = client_with(ws.token).post(
        ws.url("brand-accounts/"),
        {
            "platform": "discourse",
            "name": "Community",
            "external_id": f"{external_id}/",
            "credentials": credentials,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    account = BrandAccount.objects.get(pk=response.json()["id"])
    return ws, account, f"{live_server.url}/api/v1/inbound/{account.pk}/"


def post(number, text, *, author=JANE, reply_to=None, **extra):
    return scenarios.discourse_post(
        9000 + number, TOPIC, number, text, reply_to=reply_to, **author, **extra
    )


def deliver(emu, forum, payload, *, event=None, signature="valid"):
    _, account, url = forum
    answer = emu.deliver(
        "discourse", url, payload, account=account.external_id, event=event, signature=signature
    )
    inbound_events_drain(budget_seconds=10)
    return answer["status"]


def test_a_topic_and_its_posts_become_one_comment_thread_with_its_authors(emu, forum):
    ws, account, _ = forum
    assert account.external_id == "https://forum.example.com"  # one spelling per site
    topic = scenarios.discourse_topic(
        TOPIC, "Where is my order?", **{k: JANE[k] for k in ("user_id", "username")}
    )
    assert deliver(emu, forum, topic) == 200
    assert deliver(emu, forum, post(1, "My order #1234 has not arrived, any news?")) == 200
    assert deliver(emu, forum, post(2, "Same for me since Monday.", author=BOB, reply_to=1)) == 200

    conversation = Conversation.objects.get()
    assert (conversation.kind, conversation.platform, conversation.thread_key) == (
        "comment_thread",
        "discourse",
        f"topic:{TOPIC}",
    )
    assert conversation.subject == "Where is my order?"
    first, second = Message.objects.order_by("received_at")
    assert (first.external_id, first.text, first.parent_id) == (
        f"{TOPIC}/1",
        "My order #1234 has not arrived, any news?",
        None,
    )
    assert second.parent_id == first.pk
    assert first.platform_metadata == {
        "topic_id": TOPIC,
        "post_number": 1,
        "post_id": 9001,
        "version": 1,
    }
    jane = Identity.objects.get(external_id="41")
    assert (jane.platform, jane.handle, jane.display_name) == ("discourse", "jane", "Jane Doe")
    assert (
        jane.avatar_url == "https://forum.example.com/user_avatar/forum.example.com/jane/120/41.png"
    )
    assert jane.brand_account_id == account.pk  # a forum's user ids are its own
    assert first.conversation.contact_id == jane.contact_id
    # The topic event was stored and processed, and made nothing by itself.
    assert InboundEvent.objects.filter(status="processed").count() == 3
    listed = client_with(ws.token).get(ws.url(f"conversations/{conversation.pk}/messages/"))
    assert listed.json()["results"][0]["platform_metadata"]["post_number"] == 1


def test_a_personal_message_to_the_brand_is_a_direct_conversation(emu, forum):
    message = post(1, "Can we talk about my invoice privately?")
    message["post"]["topic_archetype"] = "private_message"

    assert deliver(emu, forum, message) == 200

    assert Conversation.objects.get().kind == "direct"


def test_replies_thread_at_depth_whatever_order_the_webhooks_arrive_in(emu, forum):
    chain = [post(1, "Question about shipping to Belgium")]
    chain += [
        post(n, f"Reply number {n} in the chain", author=(BOB, JANE)[n % 2], reply_to=n - 1)
        for n in range(2, 7)
    ]
    chain.append(post(7, "A second answer to the question", author=BOB, reply_to=1))
    random.Random(3).shuffle(chain)
    for payload in chain:
        assert deliver(emu, forum, payload) == 200
    inbound_events_drain(budget_seconds=10)

    by_number = {m.platform_metadata["post_number"]: m for m in Message.objects.all()}
    assert len(by_number) == 7
    assert by_number[1].parent_id is None
    for n in range(2, 7):
        assert by_number[n].parent_id == by_number[n - 1].pk, n
    assert by_number[7].parent_id == by_number[1].pk
    assert not any("awaiting_parent" in m.platform_metadata for m in by_number.values())
    assert Conversation.objects.count() == 1


def test_edits_keep_history_and_an_older_version_never_wins(emu, forum):
    deliver(emu, forum, post(1, "First wording of my question"))
    edited = "2024-06-10T11:00:00.000Z"
    v3 = post(1, "Third wording", version=3, updated_at=edited.replace("T11", "T12"))
    v2 = post(1, "Second wording", version=2, updated_at=edited)

    assert deliver(emu, forum, v3, event="post_edited") == 200
    assert deliver(emu, forum, v2, event="post_edited") == 200

    message = Message.objects.get()
    assert message.text == "Third wording"
    assert list(message.edits.values_list("previous_text", flat=True)) == [
        "First wording of my question"
    ]
    assert message.platform_metadata["version"] == 3
    assert message.edited_at.isoformat().startswith("2024-06-10T12:00")


def test_deleted_posts_become_deletions_and_recovered_ones_come_back(emu, forum):
    deliver(emu, forum, post(1, "Question"))
    deliver(emu, forum, post(2, "Spam link here", author=BOB, reply_to=1))
    deliver(emu, forum, post(3, "Rude reply", author=BOB, reply_to=1))
    gone = "2024-06-10T13:00:00.000Z"

    # Destroyed, and edited into a deleted state: both are deletions.
    assert deliver(emu, forum, post(2, "", author=BOB, reply_to=1, deleted_at=gone)) == 200
    assert (
        deliver(
            emu,
            forum,
            post(3, "Rude reply", author=BOB, reply_to=1, version=2, deleted_at=gone),
            event="post_edited",
        )
        == 200
    )
    spam, rude = (
        Message.objects.get(external_id=f"{TOPIC}/2"),
        Message.objects.get(external_id=f"{TOPIC}/3"),
    )
    assert spam.deleted_at is not None
    assert rude.deleted_at is not None
    assert rude.text == "Rude reply"  # the row stays; the API hides it from non-admins

    recovered = post(3, "Rude reply", author=BOB, reply_to=1, updated_at=gone.replace("13", "14"))
    assert deliver(emu, forum, recovered, event="post_recovered") == 200
    rude.refresh_from_db()
    assert rude.deleted_at is None


def test_redelivered_and_shuffled_webhooks_change_nothing(emu, forum):
    _, account, url = forum
    scenario = scenarios.generate(
        "discourse",
        account_id=account.external_id,
        seed=5,
        conversations=3,
        duplicates=0.6,
        shuffle=True,
    )
    for payload in scenario.deliveries:
        answer = emu.deliver("discourse", url, payload, account=account.external_id)
        assert answer["status"] == 200
    _drain_with_retries_due()
    snapshot = sorted(Message.objects.values_list("external_id", "text", "deleted_at"))
    for payload in scenario.deliveries:
        emu.deliver("discourse", url, payload, account=account.external_id)
    _drain_with_retries_due()

    assert sorted(Message.objects.values_list("external_id", "text", "deleted_at")) == snapshot
    assert Conversation.objects.count() == 3
    assert len(snapshot) == 6  # two posts per topic
    assert sum(1 for _, _, deleted in snapshot if deleted) == 3
    assert all(text.endswith("(edit)") for _, text, deleted in snapshot if not deleted)
    assert not InboundEvent.objects.exclude(status="processed").exists()


def _drain_with_retries_due():
    """Process everything, letting events that wait for their post retry at once."""
    for _ in range(4):
        InboundEvent.objects.filter(status="pending").update(next_attempt_at=None)
        inbound_events_drain(budget_seconds=10)


@pytest.mark.parametrize("signature", ["invalid", "missing"])
def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(emu, forum, signature):
    assert deliver(emu, forum, post(1, "Hello there"), signature=signature) == 401

    assert not InboundEvent.objects.exists()
    assert not Message.objects.exists()
    assert not Contact.objects.exists()


def test_other_forum_events_are_kept_and_ignored(emu, forum):
    user = {"user": {"id": 41, "username": "jane", "created_at": "2024-06-10T10:00:00.000Z"}}

    closed = post(2, "")
    closed["post"]["post_type"] = 3  # "closed this topic": a small action, not a message

    assert deliver(emu, forum, user, event="user_created") == 200
    assert deliver(emu, forum, {"ping": "OK"}, event="ping") == 200
    assert deliver(emu, forum, closed, event="post_created") == 200

    assert InboundEvent.objects.filter(status="processed").count() == 3
    assert not Message.objects.exists()


def _reply(ws, conversation, text):
    response = client_with(ws.token).post(
        ws.url(f"conversations/{conversation.pk}/messages/"), {"text": text}, format="json"
    )
    assert response.status_code == 202, response.content
    return Message.objects.get(pk=response.json()["id"])


def test_a_reply_is_posted_in_the_topic_under_the_post_it_answers(emu, forum):
    ws, _, _ = forum
    deliver(emu, forum, post(1, "Question about my order"))
    deliver(emu, forum, post(2, "Any update on this?", author=BOB, reply_to=1))
    conversation = Conversation.objects.get()

    reply = _reply(ws, conversation, "We shipped it this morning, tracking follows by email.")

    reply.refresh_from_db()
    assert reply.status == "sent"
    assert reply.external_id == f"{TOPIC}/3"
    sent = emu.last_request("discourse")
    assert sent["path"] == "/posts.json"
    assert sent["headers"]["api-key"] == "disc-api-key"
    assert sent["headers"]["api-username"] == "causerie"
    assert sent["body"] == {
        "topic_id": TOPIC,
        "raw": "We shipped it this morning, tracking follows by email.",
        "reply_to_post_number": 2,
    }
    # The forum then announces our post like any other: no contact, no second message.
    ours = sent["response"]
    echo = scenarios.discourse_post(
        ours["id"], TOPIC, 3, ours["raw"], user_id=2, username="causerie", reply_to=2
    )
    assert deliver(emu, forum, echo) == 200
    assert Message.objects.count() == 3
    assert not Identity.objects.filter(handle="causerie").exists()


def test_the_forums_rate_limit_is_honoured_and_the_reply_goes_out_after(emu, forum):
    deliver(emu, forum, post(1, "Question about my order"))
    conversation = Conversation.objects.get()
    message = queued_reply(conversation, "Thanks, we are looking into it right now.")
    emu.set_fault("discourse", "rate_limit", retry_after=12)

    with pytest.raises(outbound.RetryLater) as caught:
        outbound.outbound_send(message_id=message.pk)

    assert caught.value.seconds == 12
    message.refresh_from_db()
    assert message.status == "queued"
    assert outbound.outbound_send(message_id=message.pk) == "sent"
    statuses = [r["status"] for r in emu.requests("discourse")]
    assert statuses == [429, 200]


def test_a_refused_post_fails_with_the_forums_reason(emu, forum):
    ws, _, _ = forum
    deliver(emu, forum, post(1, "Question about my order"))

    reply = _reply(ws, Conversation.objects.get(), "Too short")

    reply.refresh_from_db()
    assert reply.status == "failed"
    assert "too short" in reply.error["message"]


def test_a_forum_author_merges_with_the_same_persons_other_identities(emu, forum):
    ws, _, _ = forum
    deliver(emu, forum, post(1, "Question about my order"))
    jane = Contact.objects.get()
    client = client_with(ws.token)
    other = client.post(
        ws.url("contacts/"), {"name": "Jane Doe", "email": "jane@client.example"}, format="json"
    ).json()

    merged = client.post(
        ws.url("contacts/merge/"),
        {"primary": other["id"], "duplicate": str(jane.pk)},
        format="json",
    )

    assert merged.status_code == 200, merged.content
    identities = merged.json()["contact"]["identities"]
    assert [(i["platform"], i["handle"]) for i in identities] == [("discourse", "jane")]
    # Jane's next post lands with the merged contact.
    deliver(
        emu,
        forum,
        scenarios.discourse_post(9100, 301, 1, "Another question", **JANE, topic_title="Returns"),
    )
    assert str(Conversation.objects.get(thread_key="topic:301").contact_id) == other["id"]


def test_a_forum_needs_its_base_url_and_its_three_credentials(make_workspace):
    ws = make_workspace("forum-checks")
    client = client_with(ws.token)

    not_url = client.post(
        ws.url("brand-accounts/"),
        {
            "platform": "discourse",
            "name": "Community",
            "external_id": "forum.example.com",
            "credentials": {"api_key": "k", "api_username": "u", "webhook_secret": "s"},
        },
        format="json",
    )
    missing = client.post(
        ws.url("brand-accounts/"),
        {
            "platform": "discourse",
            "name": "Community",
            "external_id": "https://forum.example.com",
            "credentials": {"api_key": "k"},
        },
        format="json",
    )

    assert not_url.status_code == 400
    assert "external_id" in not_url.json()["error"]["details"]
    assert missing.status_code == 400
    assert set(missing.json()["error"]["details"]["credentials"]) == {
        "api_username",
        "webhook_secret",
    }


def test_a_forum_at_an_internal_address_is_never_called(emu, forum, settings):
    ws, account, _ = forum
    deliver(emu, forum, post(1, "Question about my order"))
    # No emulator in front: the workspace's own URL is used, and it points inside.
    settings.CAUSERIE_DISCOURSE_API_URL = ""
    BrandAccount.objects.filter(pk=account.pk).update(external_id="http://169.254.169.254")

    reply = _reply(ws, Conversation.objects.get(), "We are looking into it right now, thanks.")

    reply.refresh_from_db()
    assert reply.status == "failed"
    assert reply.error["code"] == "unsafe_site_url"
    assert not emu.requests("discourse")


def test_a_rate_limit_without_retry_after_waits_the_forums_wait_seconds():
    answer = httpx.Response(
        429,
        json={
            "errors": ["You've performed this action too many times."],
            "error_type": "rate_limit",
            "extras": {"wait_seconds": 17, "time_left": "17 seconds"},
        },
    )

    with pytest.raises(RateLimited) as caught:
        raise_for_discourse_error(answer)

    assert caught.value.retry_after_seconds == 17
