"""Search over message text: full text on PostgreSQL (English, French, accents)."""

import pytest

from conversations.services.messages import message_delete


def _ids(client, ws, q):
    response = client.get(ws.url("conversations/"), {"q": q})
    assert response.status_code == 200, response.json()
    return sorted(row["id"] for row in response.json()["results"])


@pytest.mark.postgres
def test_full_text_is_language_aware_and_accent_insensitive(ws, client, inbox):
    french = inbox.conversation(text="Je voudrais échanger mes chaussures, s'il vous plaît")
    english = inbox.conversation(text="My parcels were shipped to the wrong address")
    inbox.conversation(text="Nothing to see here")

    # French stems (chaussure/chaussures) and no accents typed (echanger/échanger).
    assert _ids(client, ws, "chaussure") == [str(french.pk)]
    assert _ids(client, ws, "echanger") == [str(french.pk)]
    assert _ids(client, ws, "ÉCHANGER chaussures") == [str(french.pk)]
    # English stems: ship/shipped, parcel/parcels.
    assert _ids(client, ws, "ship parcel") == [str(english.pk)]
    assert _ids(client, ws, "bicycle") == []


@pytest.mark.postgres
def test_the_search_index_and_the_unaccent_wrapper_exist(ws, inbox):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'msg_text_search'")
        assert "gin" in cursor.fetchone()[0].lower()
        cursor.execute("SELECT causerie_unaccent('Crème brûlée')")
        assert cursor.fetchone()[0] == "Creme brulee"


def test_deleted_messages_are_not_searched(ws, client, inbox):
    result = inbox.inbound(text="secret parcel number")
    message_delete(message=result.message)

    assert _ids(client, ws, "parcel") == []


def test_search_ignores_case_and_accents_on_every_database(ws, client, inbox):
    match = inbox.conversation(text="Je voudrais ÉCHANGER mes chaussures")
    inbox.conversation(text="Nothing to see here")

    assert _ids(client, ws, "échanger") == [str(match.pk)]
    assert _ids(client, ws, "echanger chaussures") == [str(match.pk)]
    assert _ids(client, ws, "echanger bicycle") == []
