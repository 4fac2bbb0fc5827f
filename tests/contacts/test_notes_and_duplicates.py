"""Notes on a contact, and duplicate suggestions with their reason and score."""

from contacts.models import Note
from contacts.services import identity_create


def test_notes_record_their_author_and_time_newest_first(ws, client, make_contact):
    contact = make_contact(name="Noted")
    member, token = ws.add_member("agent")
    from tests.conftest import client_with

    client.post(ws.url(f"contacts/{contact.pk}/notes/"), {"text": "First call"})
    second = client_with(token).post(
        ws.url(f"contacts/{contact.pk}/notes/"), {"text": "Wants a demo"}
    )

    assert second.status_code == 201
    body = second.json()
    assert body["author"] == {"type": "member", "id": str(member.pk), "name": "Agent"}
    assert body["created_at"]
    notes = client.get(ws.url(f"contacts/{contact.pk}/notes/")).json()["results"]
    assert [n["text"] for n in notes] == ["Wants a demo", "First call"]
    assert notes[1]["author"]["type"] == "api_key"
    assert client.post(ws.url(f"contacts/{contact.pk}/notes/"), {"text": "  "}).status_code == 400
    assert Note.objects.count() == 2


def test_duplicates_by_email_phone_handle_and_similar_name(ws, client, make_contact):
    me = make_contact(name="Jonathan Smith", email="jon@example.com", phone="+1 (555) 010-2030")
    identity_create(
        actor=ws.owner_actor, contact=me, platform="x", external_id="1", handle="jsmith"
    )
    same_email = make_contact(name="J.", email="JON@example.com")
    same_phone = make_contact(name="Phone twin", phone="15550102030")
    same_handle = make_contact(name="Handle twin")
    identity_create(
        actor=ws.owner_actor,
        contact=same_handle,
        platform="telegram",
        external_id="9",
        handle="@JSmith",
    )
    similar = make_contact(name="Jonathon Smith")
    everything = make_contact(name="Jonathan Smith", email="jon@example.com")
    make_contact(name="Someone Else", email="else@example.com")

    response = client.get(ws.url(f"contacts/{me.pk}/duplicates/"))

    assert response.status_code == 200
    results = response.json()["results"]
    by_id = {r["contact"]["id"]: r for r in results}
    assert set(by_id) == {
        str(c.pk) for c in (same_email, same_phone, same_handle, similar, everything)
    }
    assert by_id[str(same_email.pk)]["reason"] == "same_email"
    assert by_id[str(same_phone.pk)]["reason"] == "same_phone"
    assert by_id[str(same_handle.pk)]["reason"] == "same_handle"
    assert by_id[str(similar.pk)]["reason"] == "similar_name"
    assert set(by_id[str(everything.pk)]["reasons"]) == {"same_email", "similar_name"}
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert results[0]["contact"]["id"] == str(everything.pk)
    assert all(0 < s < 1 for s in scores)
    assert by_id[str(similar.pk)]["score"] < by_id[str(same_handle.pk)]["score"]
