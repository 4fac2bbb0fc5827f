"""Workspace isolation, once for every endpoint under /api/v1/workspaces/{workspace}/.

The walk reads the URL configuration, so an endpoint added later is covered without
touching this file; a new path parameter must be given an object of the victim workspace
in ``victim_objects`` below, or the walk fails and says so.
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver

from config.urls import workspace_urlpatterns
from tests.conftest import client_with

METHODS = ("get", "post", "put", "patch", "delete")


def _walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def workspace_routes():
    routes = []
    for route, callback in _walk(workspace_urlpatterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        methods = [m for m in METHODS if hasattr(view_class, m)]
        routes.append((route, methods))
    return routes


ROUTES = workspace_routes()
PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def conversation_victims(victim):
    """A conversation with a message, a label and a canned response of the victim."""
    from contacts.models import Contact
    from conversations.services.library import canned_response_create, label_create
    from conversations.services.messages import message_ingest_inbound
    from integrations.models import BrandAccount

    account = BrandAccount.objects.create(
        workspace=victim.workspace, platform="facebook", name="Victim page", external_id="p1"
    )
    contact = Contact.objects.create(workspace=victim.workspace, name="Victim contact")
    ingested = message_ingest_inbound(
        brand_account=account, thread_key="p1:u1", contact=contact, external_id="m1", text="hi"
    )
    return {
        "conversation_id": ingested.conversation.pk,
        "message_id": ingested.message.pk,
        "label_id": label_create(actor=victim.owner_actor, name="victim").pk,
        "canned_response_id": canned_response_create(
            actor=victim.owner_actor, name="victim", text="Hello {{contact.name}}"
        ).pk,
    }


def contact_victims(victim):
    """A contact with an identity, and a custom attribute definition of the victim."""
    from contacts.services import attribute_definition_create, contact_create, identity_create

    actor = victim.owner_actor
    contact = contact_create(actor=actor, name="Victim person")
    identity = identity_create(actor=actor, contact=contact, platform="x", external_id="v1")
    attribute = attribute_definition_create(actor=actor, key="victim", label="V", type="text")
    return {"contact_id": contact.pk, "identity_id": identity.pk, "attribute_id": attribute.pk}


def webhook_victims(victim):
    """A webhook subscription of the victim with one logged delivery."""
    from crm.models import WebhookDelivery
    from crm.services.events import event_record
    from crm.webhooks.services import webhook_create

    hook = webhook_create(actor=victim.owner_actor, url="http://127.0.0.1:9/victim").subscription
    event = event_record(workspace=victim.workspace, type="contact.created", data={})
    delivery = WebhookDelivery.objects.create(
        workspace=victim.workspace, subscription=hook, event=event, msg_id="msg_v", attempt=1
    )
    return {"webhook_id": hook.pk, "delivery_id": delivery.pk}


def victim_objects(victim):
    """One real object of the victim workspace per path parameter name."""
    member, _ = victim.add_member("agent")
    from crm.services.workspaces import team_create

    team = team_create(actor=victim.owner_actor, name="Victims")
    from integrations.services.brand_accounts import brand_account_create
    from integrations.services.inbound import inbound_event_store

    account = brand_account_create(
        actor=victim.owner_actor,
        platform="telegram",
        name="Victim bot",
        external_id="999",
        credentials={"bot_token": "999:secret"},
    )
    inbound_event_store(account=account, body=b'{"update_id": 1}', headers={})
    from integrations.models import InboundEvent

    inbound = InboundEvent.objects.get(brand_account=account)
    inbound.status = "failed"
    inbound.save()
    return {
        "brand_account_id": account.pk,
        "inbound_event_id": inbound.pk,
        "member_id": member.pk,
        "team_id": team.pk,
        "api_key_id": victim.api_key.pk,
        **conversation_victims(victim),
        **webhook_victims(victim),
        **contact_victims(victim),
    }


def fill(route: str, workspace_slug: str, ids: dict) -> str:
    def value(match):
        name = match.group(1)
        if name not in ids:
            pytest.fail(f"add an object for the path parameter {name!r} to victim_objects")
        return str(ids[name])

    return f"/api/v1/workspaces/{workspace_slug}/" + PARAM.sub(value, route)


def test_the_walk_finds_the_workspace_endpoints():
    routes = dict(ROUTES)
    assert "members/<uuid:member_id>/" in routes
    assert "events/" in routes
    assert len(routes) >= 9


@pytest.mark.parametrize(("route", "methods"), ROUTES, ids=[r for r, _ in ROUTES])
def test_other_workspace_credentials_get_404_everywhere(route, methods, make_workspace):
    attacker, victim = make_workspace("attacker"), make_workspace("victim")
    ids = victim_objects(victim)
    _, attacker_member_token = attacker.add_member("admin")

    # The victim's workspace by its slug; and, where the path names objects, the victim's
    # objects through the attacker's own workspace.
    targets = [fill(route, "victim", ids)]
    if PARAM.search(route):
        targets.append(fill(route, "attacker", ids))
    for token in (attacker.token, attacker_member_token):
        client = client_with(token)
        for url in targets:
            for method in methods:
                response = getattr(client, method)(url, {}, format="json")
                assert response.status_code == 404, (
                    f"{method.upper()} {url}: {response.status_code}"
                )
                assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("route", "methods"), ROUTES, ids=[r for r, _ in ROUTES])
def test_no_credentials_get_401_everywhere(route, methods, make_workspace, anon):
    victim = make_workspace("victim")
    ids = {name: uuid.uuid4() for name in PARAM.findall(route)}
    url = fill(route, victim.slug, ids)

    for method in methods:
        response = getattr(anon, method)(url, {}, format="json")
        assert response.status_code == 401, f"{method.upper()} {url}: {response.status_code}"
