"""Helpers for the conversations tests: brand accounts, contacts and inbound messages."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Contact
from conversations.services.messages import message_ingest_inbound
from integrations.models import BrandAccount

_ids = itertools.count(1)


class Inbox:
    """Makes platform traffic in one workspace through the real ingest service."""

    def __init__(self, ws):
        self.ws = ws
        self.workspace = ws.workspace
        self.accounts: dict[str, BrandAccount] = {}

    def account(self, platform: str = "facebook") -> BrandAccount:
        if platform not in self.accounts:
            self.accounts[platform] = BrandAccount.objects.create(
                workspace=self.workspace,
                platform=platform,
                name=f"{platform} account",
                external_id=f"{platform}-{next(_ids)}",
                credentials={},
            )
        return self.accounts[platform]

    def contact(self, name: str = "Jane Roe", **fields) -> Contact:
        return Contact.objects.create(workspace=self.workspace, name=name, **fields)

    def inbound(
        self,
        *,
        platform: str = "facebook",
        thread: str | None = None,
        text: str = "Hello",
        contact: Contact | None = None,
        external_id: str | None = None,
        at=None,
        ago: timedelta | None = None,
        kind: str = "direct",
        team=None,
        parent_external_id: str | None = None,
        attachments=None,
    ):
        account = self.account(platform)
        if at is None:
            at = timezone.now() - (ago or timedelta(0))
        return message_ingest_inbound(
            brand_account=account,
            thread_key=thread or f"{account.external_id}:user-{next(_ids)}",
            contact=contact or self.contact(),
            external_id=external_id or f"m-{next(_ids)}",
            text=text,
            received_at=at,
            kind=kind,
            team=team,
            parent_external_id=parent_external_id,
            attachments=attachments,
        )

    def conversation(self, **kwargs):
        return self.inbound(**kwargs).conversation


@pytest.fixture
def inbox(ws) -> Inbox:
    return Inbox(ws)
