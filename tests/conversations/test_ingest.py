"""The ingest service that platform adapters call for each normalized inbound message."""

from datetime import timedelta

from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services.conversations import ConversationChanges, conversation_update
from crm.models import Event


def _types(workspace, after=0):
    return list(
        Event.objects.filter(workspace=workspace, seq__gt=after)
        .order_by("seq")
        .values_list("type", flat=True)
    )


def test_a_first_message_creates_the_conversation_and_records_both_events(inbox):
    result = inbox.inbound(text="Is my order shipped?", thread="page:psid-1")

    assert result.created
    assert result.conversation_created
    conversation = result.conversation
    assert conversation.thread_key == "page:psid-1"
    assert conversation.platform == "facebook"
    assert conversation.status == "open"
    assert conversation.unread_count == 1
    assert conversation.last_inbound_at == result.message.received_at
    assert conversation.waiting_since == result.message.received_at
    assert conversation.last_message_preview == "Is my order shipped?"
    assert _types(inbox.workspace) == ["conversation.created", "message.created"]
    data = Event.objects.get(workspace=inbox.workspace, type="message.created").data
    assert data["text"] == "Is my order shipped?"
    assert data["direction"] == "inbound"
    assert data["author"]["type"] == "contact"


def test_the_same_external_id_twice_changes_nothing(inbox):
    first = inbox.inbound(thread="page:psid-1", external_id="mid.1")
    events = Event.objects.filter(workspace=inbox.workspace).count()

    again = inbox.inbound(thread="page:psid-1", external_id="mid.1", contact=inbox.contact("X"))

    assert not again.created
    assert again.message.pk == first.message.pk
    assert Message.objects.count() == 1
    assert Event.objects.filter(workspace=inbox.workspace).count() == events
    assert Conversation.objects.get().unread_count == 1


def test_messages_of_one_thread_share_one_conversation(inbox):
    contact = inbox.contact()
    one = inbox.inbound(thread="page:psid-1", contact=contact)
    two = inbox.inbound(thread="page:psid-1", contact=contact, text="Anyone?")

    assert two.conversation.pk == one.conversation.pk
    assert not two.conversation_created
    assert two.conversation.unread_count == 2
    # Still waiting since the first unanswered message.
    assert two.conversation.waiting_since == one.message.received_at


def test_a_new_inbound_message_reopens_a_resolved_conversation(inbox):
    conversation = inbox.conversation(thread="page:psid-1")
    conversation_update(
        actor=inbox.ws.owner_actor,
        conversation=conversation,
        changes=ConversationChanges(status="resolved"),
    )
    seq = Event.objects.filter(workspace=inbox.workspace).count()

    inbox.inbound(thread="page:psid-1", contact=conversation.contact)

    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert conversation.reopened_count == 1
    assert conversation.resolved_at is None
    assert _types(inbox.workspace, after=seq) == ["conversation.updated", "message.created"]


def test_a_new_inbound_message_wakes_a_snoozed_conversation(inbox):
    conversation = inbox.conversation(thread="page:psid-1")
    conversation_update(
        actor=inbox.ws.owner_actor,
        conversation=conversation,
        changes=ConversationChanges(snoozed_until=timezone.now() + timedelta(days=2)),
    )
    conversation.refresh_from_db()
    assert conversation.status == "snoozed"

    inbox.inbound(thread="page:psid-1", contact=conversation.contact)

    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert conversation.snoozed_until is None


def test_replies_are_threaded_by_parent_external_id_at_any_depth(inbox):
    post = inbox.inbound(thread="page:post-1", kind="comment_thread", external_id="c1")
    reply = inbox.inbound(
        thread="page:post-1", kind="comment_thread", external_id="c2", parent_external_id="c1"
    )
    deeper = inbox.inbound(
        thread="page:post-1", kind="comment_thread", external_id="c3", parent_external_id="c2"
    )

    assert reply.message.parent_id == post.message.pk
    assert deeper.message.parent_id == reply.message.pk
    assert deeper.conversation.kind == "comment_thread"


def test_an_older_message_delivered_late_does_not_move_the_clocks_back(inbox):
    now = timezone.now()
    newer = inbox.inbound(thread="page:psid-1", at=now, text="newer")
    inbox.inbound(
        thread="page:psid-1",
        at=now - timedelta(hours=1),
        text="older",
        contact=newer.conversation.contact,
    )

    conversation = Conversation.objects.get()
    assert conversation.last_inbound_at == now
    assert conversation.last_message_preview == "newer"


def test_attachments_keep_metadata_and_url(inbox):
    attachment = {"kind": "image", "url": "https://cdn.example/a.jpg", "mime": "image/jpeg"}
    result = inbox.inbound(text="", attachments=[attachment])

    assert result.message.attachments == [attachment]
    assert result.conversation.last_message_preview == "[image]"
