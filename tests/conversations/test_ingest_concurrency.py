"""Parallel deliveries of one thread (a burst of photos, a redelivered webhook)."""

import threading

import pytest
from django.db import connection

from contacts.models import Contact
from conversations.models import Conversation, Message
from conversations.services.messages import message_ingest_inbound
from crm.models import Event
from tests.conversations.conftest import Inbox


def _parallel(count, work):
    errors: list[str] = []
    barrier = threading.Barrier(count)

    def run(i):
        try:
            barrier.wait()
            work(i)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_burst_on_a_new_thread_makes_one_conversation(make_workspace):
    ws = make_workspace("burst")
    account = Inbox(ws).account("instagram")
    contact = Contact.objects.create(workspace=ws.workspace, name="Burst")

    _parallel(
        8,
        lambda i: message_ingest_inbound(
            brand_account=account,
            thread_key="ig:user-1",
            contact=contact,
            external_id=f"mid.{i}",
            text=f"photo {i}",
        ),
    )

    conversation = Conversation.objects.get(workspace=ws.workspace)
    assert Message.objects.filter(conversation=conversation).count() == 8
    assert conversation.unread_count == 8
    assert Event.objects.filter(workspace=ws.workspace, type="conversation.created").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_event_delivered_in_parallel_is_stored_once(make_workspace):
    ws = make_workspace("redelivery")
    account = Inbox(ws).account("whatsapp")
    contact = Contact.objects.create(workspace=ws.workspace, name="Twice")

    _parallel(
        6,
        lambda i: message_ingest_inbound(
            brand_account=account,
            thread_key="wa:123",
            contact=contact,
            external_id="wamid.same",
            text="hello",
        ),
    )

    assert Message.objects.filter(workspace=ws.workspace).count() == 1
    assert Conversation.objects.get(workspace=ws.workspace).unread_count == 1
    assert Event.objects.filter(workspace=ws.workspace, type="message.created").count() == 1
