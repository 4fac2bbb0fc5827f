"""Helpers for the contacts tests: contacts made through the services, conversations and
messages as platform ingest stores them."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.services import contact_create
from integrations.models import BrandAccount

_n = itertools.count()


@pytest.fixture
def make_contact(ws):
    def make(workspace=None, **fields):
        target = workspace or ws
        return contact_create(actor=target.owner_actor, **fields)

    return make


@pytest.fixture
def make_brand_account(ws):
    def make(platform="facebook", workspace=None):
        target = workspace or ws
        return BrandAccount.objects.create(
            workspace=target.workspace,
            platform=platform,
            name=f"{platform} account",
            external_id=f"{platform}-{next(_n)}",
        )

    return make


@pytest.fixture
def make_conversation():
    """A conversation of ``contact`` with ``texts`` as inbound messages, a minute apart."""
    from conversations.models import Conversation, Message

    def make(contact, brand_account, texts=(), *, start=None, author_type="contact", **extra):
        start = start or timezone.now() - timedelta(days=1)
        conversation = Conversation.objects.create(
            workspace_id=contact.workspace_id,
            contact=contact,
            brand_account=brand_account,
            platform=brand_account.platform,
            thread_key=f"{brand_account.external_id}:{next(_n)}",
            last_message_at=start,
            **extra,
        )
        for offset, text in enumerate(texts):
            Message.objects.create(
                workspace_id=contact.workspace_id,
                conversation=conversation,
                brand_account=brand_account,
                direction="inbound" if author_type == "contact" else "outbound",
                author_type=author_type,
                author_id="psid-1" if author_type == "contact" else "",
                author_name=contact.name if author_type == "contact" else "Brand",
                text=text,
                external_id=f"m{next(_n)}",
                created_at=start + timedelta(minutes=offset),
            )
        return conversation

    return make
