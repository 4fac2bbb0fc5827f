"""Merge and unmerge: what moves, what is recorded, what comes back, under concurrency."""

import threading

import pytest
from django.db import connection

from contacts.models import Contact, ContactMerge, Identity, Note
from contacts.services import contacts_merge, identity_create, note_create
from crm.exceptions import ApplicationError
from crm.models import AuditLogEntry, Event


@pytest.fixture
def pair(ws, make_contact, make_brand_account, make_conversation):
    """Two contacts of one person, each with identities, a conversation, notes and tags."""
    page = make_brand_account("facebook")
    primary = make_contact(name="Maria Lopez", email="maria@example.com", tags=["vip"])
    duplicate = make_contact(
        name="Maria L.", phone="+34 600 000 001", company="Acme", tags=["VIP", "newsletter"]
    )
    identity_create(actor=ws.owner_actor, contact=primary, platform="x", external_id="1")
    moved_identity = identity_create(
        actor=ws.owner_actor,
        contact=duplicate,
        platform="facebook",
        external_id="psid",
        brand_account=page,
        handle="maria.l",
    )
    make_conversation(primary, page, ["hello from primary"])
    moved_conversation = make_conversation(duplicate, page, ["hello from duplicate"])
    note_create(actor=ws.owner_actor, contact=primary, text="primary note")
    moved_note = note_create(actor=ws.owner_actor, contact=duplicate, text="duplicate note")
    return {
        "primary": primary,
        "duplicate": duplicate,
        "identity": moved_identity,
        "conversation": moved_conversation,
        "note": moved_note,
        "page": page,
    }


def _merge(client, ws, primary, duplicate):
    return client.post(
        ws.url("contacts/merge/"), {"primary": str(primary.pk), "duplicate": str(duplicate.pk)}
    )


def test_merge_moves_everything_and_records_exactly_what_moved(ws, client, pair):
    primary, duplicate = pair["primary"], pair["duplicate"]

    response = _merge(client, ws, primary, duplicate)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"merge", "contact"}
    merged = body["contact"]
    assert merged["id"] == str(primary.pk)
    assert merged["name"] == "Maria Lopez"  # the primary's own fields win
    assert merged["phone"] == "+34 600 000 001"  # empty ones are filled
    assert merged["company"] == "Acme"
    assert merged["tags"] == ["vip", "newsletter"]
    assert {i["platform"] for i in merged["identities"]} == {"x", "facebook"}
    conversation = pair["conversation"]
    assert conversation.__class__.objects.get(pk=conversation.pk).contact_id == primary.pk
    assert Note.objects.filter(contact=primary).count() == 2

    record = ContactMerge.objects.get(pk=body["merge"])
    assert record.moved == {
        "identities": [str(pair["identity"].pk)],
        "conversations": [str(pair["conversation"].pk)],
        "notes": [str(pair["note"].pk)],
        "tags": ["newsletter"],
        "fields": {"phone": "+34 600 000 001", "company": "Acme"},
        "attributes": {},
    }
    # The duplicate is hidden from every read, and says where it went.
    gone = client.get(ws.url(f"contacts/{duplicate.pk}/"))
    assert gone.status_code == 404
    assert gone.json()["error"]["details"]["merged_into"] == str(primary.pk)
    listed = {c["id"] for c in client.get(ws.url("contacts/")).json()["results"]}
    assert str(duplicate.pk) not in listed
    # The timeline of the primary now holds both histories.
    timeline = client.get(ws.url(f"contacts/{primary.pk}/timeline/")).json()["results"]
    texts = [m["text"] for m in timeline]
    assert set(texts) == {"hello from primary", "hello from duplicate"}

    merged_events = Event.objects.filter(workspace=ws.workspace, type="contact.merged")
    assert [e.data for e in merged_events] == [
        {"primary": str(primary.pk), "duplicate": str(duplicate.pk), "merge": body["merge"]}
    ]
    last_update = (
        Event.objects.filter(workspace=ws.workspace, type="contact.updated").order_by("seq").last()
    )
    assert last_update.data == merged
    assert Event.objects.filter(workspace=ws.workspace, type="conversation.updated").exists()
    audit = AuditLogEntry.objects.get(action="contact.merged")
    assert audit.target_id == str(primary.pk)
    assert audit.details["duplicate"] == str(duplicate.pk)


def test_unmerge_puts_everything_back_even_after_later_activity(
    ws, client, pair, make_contact, make_conversation
):
    from conversations.models import Conversation, Message

    primary, duplicate = pair["primary"], pair["duplicate"]
    before = client.get(ws.url(f"contacts/{duplicate.pk}/")).json()
    merge_id = _merge(client, ws, primary, duplicate).json()["merge"]

    # Later activity on the merged contact:
    conversation = pair["conversation"]
    Message.objects.create(
        workspace=ws.workspace,
        conversation=conversation,
        direction="inbound",
        author_type="contact",
        text="a later message in a moved conversation",
    )
    later_conversation = make_conversation(primary, pair["page"], ["a new conversation"])
    client.post(ws.url(f"contacts/{primary.pk}/notes/"), {"text": "a note after the merge"})
    client.patch(
        ws.url(f"contacts/{primary.pk}/"),
        {"company": "Edited since", "tags": ["vip", "newsletter", "later"]},
    )
    third = make_contact(name="Third", tags=["third"])
    identity_create(actor=ws.owner_actor, contact=third, platform="telegram", external_id="3")
    third_merge = _merge(client, ws, primary, third).json()["merge"]

    response = client.post(ws.url(f"contacts/{primary.pk}/unmerge/"), {"merge": merge_id})

    assert response.status_code == 200, response.json()
    restored = response.json()["restored"]
    assert {k: restored[k] for k in ("id", "name", "email", "phone", "company", "tags")} == {
        k: before[k] for k in ("id", "name", "email", "phone", "company", "tags")
    }
    assert [i["id"] for i in restored["identities"]] == [str(pair["identity"].pk)]
    assert Conversation.objects.get(pk=conversation.pk).contact_id == duplicate.pk
    # The later message went back with its conversation.
    assert conversation.messages.count() == 2
    assert Note.objects.get(pk=pair["note"].pk).contact_id == duplicate.pk

    kept = response.json()["contact"]
    assert kept["phone"] == ""  # filled by the merge: reverted
    assert kept["company"] == "Edited since"  # edited since: kept
    assert kept["tags"] == ["vip", "later", "third"]
    assert {i["platform"] for i in kept["identities"]} == {"x", "telegram"}
    assert Conversation.objects.get(pk=later_conversation.pk).contact_id == primary.pk
    assert Note.objects.filter(contact=primary, text="a note after the merge").exists()
    assert ContactMerge.objects.get(pk=third_merge).unmerged_at is None

    assert client.get(ws.url(f"contacts/{duplicate.pk}/")).status_code == 200
    again = client.post(ws.url(f"contacts/{primary.pk}/unmerge/"), {"merge": merge_id})
    assert again.status_code == 409
    assert AuditLogEntry.objects.filter(action="contact.unmerged").count() == 1
    updated = Event.objects.filter(workspace=ws.workspace, type="contact.updated").order_by("-seq")
    assert {e.data["id"] for e in updated[:2]} == {str(primary.pk), str(duplicate.pk)}


def test_merges_are_listed_on_the_primary(ws, client, pair):
    merge_id = _merge(client, ws, pair["primary"], pair["duplicate"]).json()["merge"]

    merges = client.get(ws.url(f"contacts/{pair['primary'].pk}/merges/")).json()["results"]

    assert [m["id"] for m in merges] == [merge_id]
    assert merges[0]["moved"]["notes"] == [str(pair["note"].pk)]


def test_unmerge_is_refused_while_the_primary_is_itself_merged(ws, client, pair, make_contact):
    primary, duplicate = pair["primary"], pair["duplicate"]
    first = _merge(client, ws, primary, duplicate).json()["merge"]
    top = make_contact(name="Top")
    _merge(client, ws, top, primary)

    response = client.post(ws.url(f"contacts/{primary.pk}/unmerge/"), {"merge": first})

    assert response.status_code == 404  # the primary is now hidden behind "Top"


@pytest.mark.parametrize(
    "case", ["self", "already merged", "unknown"], ids=["self", "already", "unknown"]
)
def test_impossible_merges_are_refused(ws, client, pair, case):
    primary, duplicate = pair["primary"], pair["duplicate"]
    if case == "self":
        response = _merge(client, ws, primary, primary)
        assert response.status_code == 400
    elif case == "already merged":
        _merge(client, ws, primary, duplicate)
        response = _merge(client, ws, primary, duplicate)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "contact_merged"
    else:
        response = client.post(
            ws.url("contacts/merge/"),
            {"primary": str(primary.pk), "duplicate": "00000000-0000-0000-0000-000000000000"},
        )
        assert response.status_code == 404
    if case != "already merged":
        assert Identity.objects.get(pk=pair["identity"].pk).contact_id == duplicate.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_merges_of_the_same_contacts_cannot_corrupt_data(make_workspace):
    """Merges of three contacts in every direction race: whatever wins, every identity
    ends on a live contact, merges never form a cycle, and nothing deadlocks."""
    from contacts.services import contact_create

    target = make_workspace("merge-race")
    actor = target.owner_actor
    rounds = 5
    for round_ in range(rounds):
        contacts = [contact_create(actor=actor, name=f"R{round_}-{i}") for i in range(3)]
        for i, contact in enumerate(contacts):
            identity_create(actor=actor, contact=contact, platform="x", external_id=f"{round_}-{i}")
        a, b, c = (x.pk for x in contacts)
        plans = [(a, b), (b, a), (a, c), (c, b), (b, c), (c, a)]
        barrier = threading.Barrier(len(plans))
        outcomes, errors = [], []

        def run(primary, duplicate, barrier=barrier, outcomes=outcomes, errors=errors):
            try:
                barrier.wait()
                contacts_merge(actor=actor, primary_id=primary, duplicate_id=duplicate)
                outcomes.append("merged")
            except ApplicationError as exc:
                outcomes.append(exc.error_code)
            except Exception as exc:
                errors.append(repr(exc))
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=plan) for plan in plans]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert errors == []
        assert 1 <= outcomes.count("merged") <= 2
        assert set(outcomes) <= {"merged", "contact_merged"}
        rows = {x.pk: x for x in Contact.objects.filter(pk__in=[a, b, c])}
        live = [pk for pk, x in rows.items() if x.merged_into_id is None]
        # Merged contacts may chain (B into A, then A into C, as done one after the
        # other), but every chain ends at a live contact: no cycle, nothing lost.
        for x in rows.values():
            seen = {x.pk}
            while x.merged_into_id:
                x = rows[x.merged_into_id]
                assert x.pk not in seen
                seen.add(x.pk)
        owners = set(
            Identity.objects.filter(contact_id__in=[a, b, c]).values_list("contact_id", flat=True)
        )
        assert owners <= set(live)
        assert Identity.objects.filter(contact_id__in=[a, b, c]).count() == 3
        merges = ContactMerge.objects.filter(primary_id__in=[a, b, c])
        assert merges.count() == outcomes.count("merged")
