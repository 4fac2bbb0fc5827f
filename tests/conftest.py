"""Shared fixtures: workspaces made through the real services, and API clients per credential."""

import itertools

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from crm.actors import Actor
from crm.models import Membership
from crm.services.workspaces import member_add, personal_token_create, workspace_create

_counter = itertools.count()


def pytest_collection_modifyitems(config, items):
    if settings.DATABASE_IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


class Credentialed:
    """A workspace with its owner's all-scopes API key and helpers to add people."""

    def __init__(self, created):
        self.workspace = created.workspace
        self.owner = created.owner
        self.api_key = created.api_key
        self.token = created.token
        self.slug = created.workspace.slug

    @property
    def owner_actor(self) -> Actor:
        return Actor.for_member(self.owner)

    def url(self, path: str = "") -> str:
        return f"/api/v1/workspaces/{self.slug}/{path}"

    def add_member(self, role: str, email: str | None = None) -> tuple[Membership, str]:
        """A new member with ``role`` and a personal token for it."""
        email = email or f"{role}{next(_counter)}@{self.slug}.test"
        membership = member_add(actor=self.owner_actor, email=email, role=role, name=role.title())
        _, token = personal_token_create(user=membership.user, name="test")
        return membership, token


@pytest.fixture
def make_workspace(db):
    def make(slug: str | None = None) -> Credentialed:
        slug = slug or f"ws-{next(_counter)}"
        created = workspace_create(slug=slug, name=slug.title(), owner_email=f"owner@{slug}.test")
        return Credentialed(created)

    return make


@pytest.fixture
def ws(make_workspace) -> Credentialed:
    return make_workspace("acme")


@pytest.fixture
def other_ws(make_workspace) -> Credentialed:
    return make_workspace("globex")


def client_with(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def client(ws) -> APIClient:
    """An API client authenticated with ``ws``'s owner key."""
    return client_with(ws.token)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()
