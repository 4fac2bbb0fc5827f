"""Data subject access (export) and erasure."""

import hashlib
import json

import pytest

from contacts.models import Contact, Identity, Note
from contacts.services import contacts_merge, identity_create, note_create
from crm.models import AuditLogEntry, Event

PERSONAL = (
    "Élodie",
    "Durand",
    "elodie@example.fr",
    "+33 6 11 22 33 44",
    "33611223344",
    "elo_d",
    "elodie.ig",
    "psid-elodie",
    "my order 4242 never came",
    "passport.jpg",
    "Elo Twin",
)


@pytest.fixture
def person(ws, make_contact, make_brand_account, make_conversation):
    from conversations.models import Message, MessageEdit, Reaction
    from integrations.models import InboundEvent

    page = make_brand_account("facebook")
    contact = make_contact(
        name="Élodie Durand",
        email="elodie@example.fr",
        phone="+33 6 11 22 33 44",
        company="Durand SARL",
        tags=["vip"],
    )
    identity_create(
        actor=ws.owner_actor,
        contact=contact,
        platform="facebook",
        external_id="psid-elodie",
        brand_account=page,
        handle="elo_d",
        display_name="Élodie D.",
        avatar_url="https://cdn.example/elodie.png",
        profile={"locale": "fr_FR"},
    )
    twin = make_contact(name="Elo Twin")
    identity_create(
        actor=ws.owner_actor, contact=twin, platform="x", external_id="55", handle="elodie.ig"
    )
    contacts_merge(actor=ws.owner_actor, primary_id=contact.pk, duplicate_id=twin.pk)
    note_create(actor=ws.owner_actor, contact=contact, text="Élodie prefers email")
    conversation = make_conversation(
        contact, page, ["my order 4242 never came"], subject="Order 4242 Élodie"
    )
    inbound = conversation.messages.get()
    inbound.attachments = [
        {"kind": "image", "url": "https://cdn.example/passport.jpg", "name": "passport.jpg"}
    ]
    inbound.save()
    MessageEdit.objects.create(
        workspace=ws.workspace, message=inbound, previous_text="my order 4242 never came!!"
    )
    Reaction.objects.create(
        workspace=ws.workspace,
        message=inbound,
        author_type="contact",
        author_id="psid-elodie",
        author_name="Élodie Durand",
        reaction="love",
    )
    Message.objects.create(
        workspace=ws.workspace,
        conversation=conversation,
        direction="outbound",
        author_type="member",
        author_name="Agent Smith",
        text="We are on it",
    )
    raw = json.dumps(
        {"entry": [{"messaging": [{"sender": {"id": "psid-elodie"}, "message": {"text": "hi"}}]}]}
    ).encode()
    for body, status in ((raw, "processed"), (b'{"sender": "someone-else"}', "processed")):
        InboundEvent.objects.create(
            workspace=ws.workspace,
            brand_account=page,
            platform="facebook",
            body=body,
            body_sha256=hashlib.sha256(body).hexdigest(),
            status=status,
        )
    return contact


def test_export_holds_everything_about_the_person_in_one_document(ws, client, person):
    response = client.get(ws.url(f"contacts/{person.pk}/export/"))

    assert response.status_code == 200
    document = response.json()
    assert document["contact"]["email"] == "elodie@example.fr"
    assert {i["handle"] for i in document["identities"]} == {"elo_d", "elodie.ig"}
    assert document["identities"][0]["profile"] == {"locale": "fr_FR"}
    assert [n["text"] for n in document["notes"]] == ["Élodie prefers email"]
    [conversation] = document["conversations"]
    assert conversation["platform"] == "facebook"
    texts = [m["text"] for m in conversation["messages"]]
    assert texts == ["my order 4242 never came", "We are on it"]
    assert conversation["messages"][0]["attachments"][0]["name"] == "passport.jpg"
    assert conversation["messages"][0]["edits"][0]["previous_text"].startswith("my order")
    assert len(document["merges"]) == 1
    assert AuditLogEntry.objects.filter(action="contact.exported").count() == 1


def _everything_visible(client, ws, contact_id) -> str:
    """Every endpoint's answer that could show the person, as one text."""
    urls = [
        "contacts/",
        f"contacts/{contact_id}/",
        f"contacts/{contact_id}/identities/",
        f"contacts/{contact_id}/notes/",
        f"contacts/{contact_id}/timeline/",
        f"contacts/{contact_id}/merges/",
        f"contacts/{contact_id}/export/",
        f"contacts/{contact_id}/duplicates/",
        "contacts/export.csv",
        "events/?after=0",
        "audit-log/",
        "conversations/",
        "conversations/?q=4242",
        "conversations/?q=elodie",
    ]
    texts = []
    for url in urls:
        response = client.get(ws.url(url))
        assert response.status_code == 200, (url, response.status_code)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        texts.append(content.decode())
    return json.dumps(texts, ensure_ascii=False) + "".join(texts)


def test_erase_leaves_no_personal_trace_but_keeps_counts_and_timings(ws, client, person):
    from conversations.models import Conversation, Message

    before = {
        "messages": Message.objects.filter(conversation__contact=person).count(),
        "timestamps": sorted(
            Message.objects.filter(conversation__contact=person).values_list(
                "created_at", flat=True
            )
        ),
        "conversations": Conversation.objects.filter(contact=person).count(),
    }
    assert "Élodie" in _everything_visible(client, ws, person.pk)

    response = client.post(ws.url(f"contacts/{person.pk}/erase/"))

    assert response.status_code == 200, response.json()
    assert response.json()["name"] == ""
    visible = _everything_visible(client, ws, person.pk)
    for value in PERSONAL:
        assert value not in visible, value
        assert value.lower() not in visible.lower(), value
    for q in ("elodie", "Durand", "elodie@example.fr", "33611223344", "elo_d", "Twin"):
        assert client.get(ws.url("contacts/"), {"q": q}).json()["results"] == [], q
    # What reports count stays.
    assert Message.objects.filter(conversation__contact=person).count() == before["messages"]
    assert (
        sorted(
            Message.objects.filter(conversation__contact=person).values_list(
                "created_at", flat=True
            )
        )
        == before["timestamps"]
    )
    assert Conversation.objects.filter(contact=person).count() == before["conversations"]
    assert Message.objects.get(text="We are on it")  # the brand's own words stay
    assert Identity.objects.filter(contact=person).count() == 0
    assert Note.objects.filter(contact=person).count() == 1
    assert Contact.objects.get(pk=person.pk).erased_at is not None
    assert Event.objects.filter(workspace=ws.workspace, type="contact.erased").get().data == {
        "id": str(person.pk)
    }
    audit = AuditLogEntry.objects.get(action="contact.erased")
    assert audit.details["contacts"] == 2
    assert audit.details["messages"] == 1
    from integrations.models import InboundEvent

    bodies = sorted(bytes(b) for b in InboundEvent.objects.values_list("body", flat=True))
    assert bodies == [b'{"sender": "someone-else"}', b"{}"]
    assert audit.details["raw_events"] == 1
    # Nothing personal anywhere in the database rows that hold text about them.
    dump = json.dumps(
        [
            list(Contact.objects.values()),
            list(Event.objects.values("data")),
            list(Message.objects.values("text", "attachments", "author_name", "author_id")),
        ],
        default=str,
        ensure_ascii=False,
    )
    for value in PERSONAL:
        assert value not in dump, value


def test_an_erased_contact_cannot_be_merged_and_a_new_message_makes_a_new_contact(
    ws, client, person, make_contact
):
    from contacts.services import identity_resolve

    client.post(ws.url(f"contacts/{person.pk}/erase/"))
    other = make_contact(name="Other")

    merge = client.post(
        ws.url("contacts/merge/"), {"primary": str(other.pk), "duplicate": str(person.pk)}
    )
    page = Identity.objects.none()
    from integrations.models import BrandAccount

    page = BrandAccount.objects.get(platform="facebook")
    again = identity_resolve(
        workspace=ws.workspace, platform="facebook", external_id="psid-elodie", brand_account=page
    )

    assert merge.status_code == 409
    assert again.contact_id != person.pk
