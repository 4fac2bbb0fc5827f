"""Contacts, identities and timeline items are answered by plain functions; their
serializers describe them in the OpenAPI schema. Both must give the same JSON, byte for
byte: field order, UUIDs and times as strings (UTC with ``Z``), nulls, non-ASCII text."""

import json
from datetime import timedelta

from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from contacts import selectors
from contacts.models import Contact
from contacts.serializers import (
    ContactOutputSerializer,
    TimelineItemOutputSerializer,
    contact_data,
)
from contacts.services import identity_create
from conversations.models import Message
from tests.conftest import client_with


def _rendered(data) -> bytes:
    return JSONRenderer().render(data)


def _contacts(ws, make_contact, make_brand_account) -> list[Contact]:
    owner, _ = ws.add_member("agent")
    full = make_contact(
        name="Zoë Ñúñez 山田",
        email="zoe@example.fr",
        phone="+33 6 12 34 56 78",
        company="Ça & Co",
        lifecycle_stage="customer",
        owner=owner.pk,
        tags=["vip", "café"],
    )
    Contact.objects.filter(pk=full.pk).update(
        attributes={"plan": "pro", "seats": 3, "score": 0.5, "note": None, "deep": {"a": [1]}}
    )
    identity_create(
        actor=ws.owner_actor,
        contact=full,
        platform="facebook",
        external_id="psid-1",
        brand_account=make_brand_account("facebook"),
        handle="zoe",
        display_name="Zoë",
        avatar_url="https://example.com/a.png",
        profile={"locale": "fr_FR", "verified": True},
    )
    identity_create(actor=ws.owner_actor, contact=full, platform="telegram", external_id="42")
    bare = make_contact()
    return [full, bare]


def test_contact_answers_are_what_the_schema_serializer_gives(
    ws, client, make_contact, make_brand_account
):
    contacts = _contacts(ws, make_contact, make_brand_account)
    loaded = {str(c.pk): c for c in Contact.objects.prefetch_related("identities")}

    page = client.get(ws.url("contacts/"))
    assert page.status_code == 200
    results = json.loads(page.content)["results"]
    assert len(results) == len(contacts)
    for item in results:
        expected = ContactOutputSerializer(loaded[item["id"]]).data
        assert _rendered(item) == _rendered(expected)
    for contact in contacts:
        detail = client.get(ws.url(f"contacts/{contact.pk}/"))
        expected = ContactOutputSerializer(loaded[str(contact.pk)]).data
        assert detail.content == _rendered(expected)
        # Event data is built from an instance as a service holds it, not reloaded.
        assert _rendered(contact_data(contact)) == _rendered(ContactOutputSerializer(contact).data)


def test_timeline_items_are_what_the_schema_serializer_gives_deleted_text_for_admins_only(
    ws, client, make_contact, make_brand_account, make_conversation
):
    contact = make_contact(name="Léa")
    start = timezone.now() - timedelta(hours=2)
    account = make_brand_account("instagram")
    conversation = make_conversation(contact, account, ["première", "second", "oops"], start=start)
    first = Message.objects.get(text="première")
    Message.objects.filter(text="second").update(
        attachments=[{"type": "image", "url": "https://example.com/i.jpg", "size": 12}],
        parent=first,
        sent_at=start,
        received_at=start + timedelta(seconds=1),
        edited_at=start + timedelta(minutes=3),
        private=True,
        external_id="",
    )
    Message.objects.filter(text="oops").update(
        deleted_at=timezone.now(), attachments=[{"type": "file", "url": "https://x.test/f"}]
    )
    _, agent_token = ws.add_member("agent")
    agent = client_with(agent_token)

    for reader, show_deleted in ((client, True), (agent, False)):
        page = reader.get(ws.url(f"contacts/{contact.pk}/timeline/"))
        assert page.status_code == 200
        items = json.loads(page.content)["results"]
        rows = {str(m.pk): m for m in selectors.contact_timeline(contact=contact)[:10]}
        assert [i["conversation"] for i in items] == [str(conversation.pk)] * 3
        for item in items:
            message = rows[item["id"]]
            expected = dict(TimelineItemOutputSerializer(message).data)
            if message.deleted_at is not None and not show_deleted:
                expected.update(text="", attachments=[])
            assert _rendered(item) == _rendered(expected)
        deleted = next(i for i in items if i["deleted_at"])
        assert (deleted["text"], bool(deleted["attachments"])) == (
            ("oops", True) if show_deleted else ("", False)
        )
