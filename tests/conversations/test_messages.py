"""Messages through the API: replies, private notes, windows, roles, edits, deletions."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from conversations.models import Message
from conversations.services.messages import (
    message_delete,
    message_edit,
    message_status_set,
    reaction_add,
    reaction_remove,
)
from conversations.signals import reply_queued
from crm.models import Event
from tests.conftest import client_with


def _messages_url(ws, conversation):
    return ws.url(f"conversations/{conversation.pk}/messages/")


def test_messages_are_listed_oldest_first_with_pages(ws, client, inbox):
    start = timezone.now() - timedelta(hours=1)
    first = inbox.inbound(thread="p:u", at=start, text="one")
    for i, text in enumerate(["two", "three"], start=1):
        inbox.inbound(
            thread="p:u",
            at=start + timedelta(minutes=i),
            text=text,
            contact=first.conversation.contact,
        )

    page = client.get(_messages_url(ws, first.conversation) + "?page_size=2").json()
    assert [m["text"] for m in page["results"]] == ["one", "two"]
    rest = client.get(page["next"]).json()
    assert [m["text"] for m in rest["results"]] == ["three"]
    assert rest["next"] is None
    back = client.get(rest["previous"]).json()
    assert [m["text"] for m in back["results"]] == ["one", "two"]


def test_a_page_of_messages_costs_a_fixed_number_of_queries(
    ws, client, inbox, django_assert_num_queries
):
    start = timezone.now() - timedelta(hours=1)
    first = inbox.inbound(thread="q:u", at=start, text="m 0")
    for i in range(1, 12):
        inbox.inbound(
            thread="q:u",
            at=start + timedelta(minutes=i),
            text=f"m {i}",
            contact=first.conversation.contact,
        )
    url = _messages_url(ws, first.conversation)
    client.get(url)  # the credential is remembered from here on (crm.process_cache)

    # The conversation (visibility), the page, its reactions, its edits.
    for size in (2, 12):
        with django_assert_num_queries(4):
            page = client.get(f"{url}?page_size={size}").json()
        assert len(page["results"]) == size
        assert all(m["reactions"] == [] and m["edits"] == [] for m in page["results"])


def test_a_reply_is_queued_and_answered_202(ws, inbox, django_capture_on_commit_callbacks):
    conversation = inbox.conversation()
    agent, token = ws.add_member("agent")
    sent = []
    before = Event.objects.filter(workspace=ws.workspace).order_by("-seq").first().seq

    def on_queued(**kwargs):
        sent.append(kwargs["message_id"])

    reply_queued.connect(on_queued)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client_with(token).post(
                _messages_url(ws, conversation), {"text": "On its way!"}, format="json"
            )
    finally:
        reply_queued.disconnect(on_queued)

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "queued"
    assert body["direction"] == "outbound"
    assert body["private"] is False
    assert body["author"] == {"type": "member", "id": str(agent.pk), "name": "Agent"}
    assert sent == [Message.objects.get(pk=body["id"]).pk]
    conversation.refresh_from_db()
    # The agent who answers an unassigned conversation takes it; the customer stops waiting.
    assert conversation.assignee_id == agent.pk
    assert conversation.waiting_since is None
    assert conversation.unread_count == 0
    assert conversation.first_response_at is not None
    # The reply's own events, in its transaction (a sender may add message.updated later).
    types = list(
        Event.objects.filter(workspace=ws.workspace, seq__gt=before)
        .order_by("seq")
        .values_list("type", flat=True)
    )
    assert types[:2] == ["conversation.updated", "message.created"]


def test_a_private_note_is_stored_at_once_and_never_queued(
    ws, client, inbox, django_capture_on_commit_callbacks
):
    conversation = inbox.conversation()
    sent = []
    reply_queued.connect(lambda **kw: sent.append(kw), weak=False, dispatch_uid="t-note")
    try:
        response = client.post(
            _messages_url(ws, conversation),
            {"text": "VIP, be nice", "private": True},
            format="json",
        )
    finally:
        reply_queued.disconnect(dispatch_uid="t-note")

    assert response.status_code == 201
    assert response.json()["private"] is True
    assert sent == []
    conversation.refresh_from_db()
    # A note is not a response: the customer is still waiting.
    assert conversation.first_response_at is None
    assert conversation.waiting_since is not None


def test_a_reply_can_name_its_parent_in_the_conversation(ws, client, inbox):
    comment = inbox.inbound(kind="comment_thread", text="Price?")
    other = inbox.inbound(kind="comment_thread", text="elsewhere")

    ok = client.post(
        _messages_url(ws, comment.conversation),
        {"text": "19 EUR", "parent": str(comment.message.pk)},
        format="json",
    )
    wrong = client.post(
        _messages_url(ws, comment.conversation),
        {"text": "19 EUR", "parent": str(other.message.pk)},
        format="json",
    )

    assert ok.status_code == 202
    assert ok.json()["parent"] == str(comment.message.pk)
    assert wrong.status_code == 400
    assert "parent" in wrong.json()["error"]["details"]


@pytest.mark.parametrize(
    ("platform", "age", "expected", "tag"),
    [
        ("facebook", timedelta(hours=23), "standard_window", ""),
        ("facebook", timedelta(days=3), "human_agent_window", "HUMAN_AGENT"),
        ("instagram", timedelta(days=6, hours=23), "human_agent_window", "HUMAN_AGENT"),
        ("whatsapp", timedelta(hours=20), "customer_service_window", ""),
        ("telegram", timedelta(days=300), "no_window", ""),
    ],
    ids=["fb_24h_case", "fb_7d_case", "ig_7d_case", "wa_24h_case", "telegram_case"],
)
def test_replies_inside_the_window_are_accepted_with_the_right_tag(
    ws, client, inbox, platform, age, expected, tag
):
    conversation = inbox.conversation(platform=platform, ago=age)
    window = client.get(ws.url(f"conversations/{conversation.pk}/")).json()["reply_window"]
    assert window["open"] is True
    assert window["reason"] == expected

    response = client.post(_messages_url(ws, conversation), {"text": "Hi"}, format="json")

    assert response.status_code == 202
    assert Message.objects.get(pk=response.json()["id"]).message_tag == tag


@pytest.mark.parametrize(
    ("platform", "age"),
    [("facebook", timedelta(days=7, minutes=1)), ("whatsapp", timedelta(hours=24, minutes=1))],
    ids=["messenger_after_7_days_case", "whatsapp_after_24_hours_case"],
)
def test_a_reply_after_the_window_is_refused_422_and_nothing_is_stored(
    ws, client, inbox, platform, age
):
    conversation = inbox.conversation(platform=platform, ago=age)
    count = Message.objects.count()

    response = client.post(_messages_url(ws, conversation), {"text": "Hi"}, format="json")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "reply_window_closed"
    assert error["details"]["reply_window"]["open"] is False
    assert error["details"]["reply_window"]["reason"] == "window_expired"
    assert Message.objects.count() == count
    # A private note is still possible.
    note = client.post(
        _messages_url(ws, conversation),
        {"text": "chase by email", "private": True},
        format="json",
    )
    assert note.status_code == 201


def test_the_window_follows_the_last_inbound_message_only(ws, client, inbox):
    old = inbox.conversation(platform="whatsapp", ago=timedelta(hours=30))
    # The brand's own messages do not reopen it...
    assert client.get(ws.url(f"conversations/{old.pk}/")).json()["reply_window"]["open"] is False
    # ...a new customer message does.
    inbox.inbound(platform="whatsapp", thread=old.thread_key, contact=old.contact)
    window = client.get(ws.url(f"conversations/{old.pk}/")).json()["reply_window"]
    assert window["open"] is True
    assert window["expires_at"] is not None


@pytest.mark.parametrize("role", ["sales", "viewer"])
def test_sales_and_viewers_never_reply(ws, inbox, role):
    conversation = inbox.conversation()
    _, token = ws.add_member(role)
    client = client_with(token)

    assert client.get(_messages_url(ws, conversation)).status_code == 200
    for body in ({"text": "hi"}, {"text": "note", "private": True}):
        response = client.post(_messages_url(ws, conversation), body, format="json")
        assert response.status_code == 403
    assert Message.objects.filter(direction="outbound").count() == 0


def test_an_empty_message_is_refused(ws, client, inbox):
    conversation = inbox.conversation()

    response = client.post(_messages_url(ws, conversation), {"text": "  "}, format="json")

    assert response.status_code == 400


def test_edits_keep_every_earlier_text_and_record_message_updated(ws, client, inbox):
    message = inbox.inbound(text="v1").message
    message_edit(message=message, text="v2")
    message_edit(message=message, text="v3")

    body = client.get(
        ws.url(f"conversations/{message.conversation_id}/messages/{message.pk}/")
    ).json()

    assert body["text"] == "v3"
    assert [e["text"] for e in body["edits"]] == ["v1", "v2"]
    assert body["edited_at"] is not None
    last = Event.objects.filter(workspace=ws.workspace).order_by("-seq").first()
    assert (last.type, last.data["text"]) == ("message.updated", "v3")


def test_a_deleted_message_hides_its_text_from_non_admins(ws, client, inbox):
    message = inbox.inbound(text="my card number is ...").message
    message_delete(message=message)
    _, agent_token = ws.add_member("agent")
    url = ws.url(f"conversations/{message.conversation_id}/messages/{message.pk}/")

    as_agent = client_with(agent_token).get(url).json()
    as_owner = client.get(url).json()

    assert as_agent["deleted_at"] is not None
    assert as_agent["text"] == ""
    assert as_owner["text"] == "my card number is ..."


def test_members_edit_and_delete_only_their_own_notes(ws, inbox):
    conversation = inbox.conversation()
    _, author_token = ws.add_member("agent")
    _, other_token = ws.add_member("agent")
    note = (
        client_with(author_token)
        .post(_messages_url(ws, conversation), {"text": "draft", "private": True}, format="json")
        .json()
    )
    url = ws.url(f"conversations/{conversation.pk}/messages/{note['id']}/")

    denied = client_with(other_token).patch(url, {"text": "mine now"}, format="json")
    edited = client_with(author_token).patch(url, {"text": "final"}, format="json")
    deleted = client_with(author_token).delete(url)

    assert denied.status_code == 403
    assert edited.json()["text"] == "final"
    assert deleted.json()["deleted_at"] is not None


def test_reactions_are_kept_per_person_and_removable(ws, client, inbox):
    message = inbox.inbound().message
    reaction_add(message=message, reaction="❤️", author_type="contact", author_id="c1")
    reaction_add(message=message, reaction="❤️", author_type="contact", author_id="c1")
    reaction_add(message=message, reaction="👍", author_type="member", author_id="m1")
    url = ws.url(f"conversations/{message.conversation_id}/messages/{message.pk}/")

    reactions = client.get(url).json()["reactions"]
    assert [(r["reaction"], r["author"]["id"]) for r in reactions] == [("❤️", "c1"), ("👍", "m1")]

    assert reaction_remove(message=message, author_type="contact", author_id="c1") == 1
    assert [r["reaction"] for r in client.get(url).json()["reactions"]] == ["👍"]


def test_delivery_statuses_only_move_forward_and_failed_is_terminal(ws, client, inbox):
    conversation = inbox.conversation()
    reply = client.post(_messages_url(ws, conversation), {"text": "hi"}, format="json").json()
    message = Message.objects.get(pk=reply["id"])

    message_status_set(message=message, status="sent", external_id="mid.out.1")
    message_status_set(message=message, status="read")
    message_status_set(message=message, status="delivered")
    message.refresh_from_db()
    assert (message.status, message.external_id) == ("read", "mid.out.1")
    assert message.sent_at is not None

    other = Message.objects.get(
        pk=client.post(_messages_url(ws, conversation), {"text": "x"}, format="json").json()["id"]
    )
    message_status_set(message=other, status="failed", error={"code": 10, "message": "window"})
    message_status_set(message=other, status="sent")
    other.refresh_from_db()
    assert other.status == "failed"
    assert other.error == {"code": 10, "message": "window"}


def test_a_canned_response_fills_its_placeholders_into_the_reply(ws, inbox):
    conversation = inbox.conversation(contact=inbox.contact("Jane Roe"))
    _, token = ws.add_member("agent")
    client = client_with(token)
    canned = client.post(
        ws.url("canned-responses/"),
        {"name": "greet", "text": "Hi {{contact.first_name}}, {{ agent.name }} here."},
        format="json",
    ).json()

    listed = client.get(ws.url(f"canned-responses/?conversation={conversation.pk}")).json()
    reply = client.post(
        _messages_url(ws, conversation), {"canned_response": canned["id"]}, format="json"
    )

    assert listed["results"][0]["rendered"] == "Hi Jane, Agent here."
    assert reply.json()["text"] == "Hi Jane, Agent here."


def test_a_failed_reply_leaves_nothing_half_written(ws, client, inbox):
    conversation = inbox.conversation(platform="whatsapp", ago=timedelta(days=2))
    events = Event.objects.filter(workspace=ws.workspace).count()

    with transaction.atomic():
        response = client.post(_messages_url(ws, conversation), {"text": "late"}, format="json")

    assert response.status_code == 422
    assert Event.objects.filter(workspace=ws.workspace).count() == events


@pytest.mark.parametrize("private", [True, False])
def test_a_new_messages_answer_and_events_are_what_the_api_serves(ws, client, inbox, private):
    conversation = inbox.conversation()
    label = client.post(ws.url("labels/"), {"name": "photos"}, format="json").json()
    conversation_url = ws.url(f"conversations/{conversation.pk}/")
    client.patch(conversation_url, {"labels": [label["id"]]}, format="json")
    before = Event.objects.filter(workspace=ws.workspace).order_by("-seq").first().seq
    attachment = {"kind": "image", "url": "https://cdn.example.test/a.png", "size": 1024.5}
    created = client.post(
        _messages_url(ws, conversation),
        {"text": "Voici la photo", "private": private, "attachments": [attachment]},
        format="json",
    )
    assert created.status_code == (201 if private else 202)

    events = {
        event.type: event.data
        for event in Event.objects.filter(workspace=ws.workspace, seq__gt=before)
    }
    served = client.get(_messages_url(ws, conversation) + f"{created.json()['id']}/").json()
    assert created.json() == served
    assert events["message.created"] == served
    assert served["attachments"] == [attachment]
    assert served["reactions"] == served["edits"] == []
    served_conversation = client.get(conversation_url).json()
    assert events["conversation.updated"] == served_conversation
    assert served_conversation["labels"] == [label["id"]]
