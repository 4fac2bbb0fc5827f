"""Role x endpoint: every method of every workspace endpoint, for each of the five roles.

The expected answer comes from one table written from the documentation (API.md, README
"API conventions", "Contacts" and the scope descriptions), not from the code's own
``required_scopes``: a view that drifts from what is documented fails here. The walk
covers every route the URL configuration has, so an endpoint added later must be entered
in ``PERMISSIONS`` first.
"""

import pytest

from contacts.models import Contact
from conversations.models import Conversation
from conversations.services.messages import message_send
from crm.actors import Actor
from tests.conftest import client_with
from tests.crm.test_isolation import PARAM, ROUTES, fill, victim_objects

CONTACTS_READ = "contacts:read"
CONTACTS_WRITE = "contacts:write"
CONVERSATIONS_READ = "conversations:read"
CONVERSATIONS_WRITE = "conversations:write"
MESSAGES_SEND = "messages:send"
WEBHOOKS = "webhooks:manage"
ADMIN = "admin"
ANY = None  # any credential of the workspace

# README: owner and admin have all; agent has contacts and conversations read/write and
# messages:send; sales has contacts read/write and conversations:read; viewer reads.
EVERY_SCOPE = {
    CONTACTS_READ,
    CONTACTS_WRITE,
    CONVERSATIONS_READ,
    CONVERSATIONS_WRITE,
    MESSAGES_SEND,
    WEBHOOKS,
    ADMIN,
}
ROLES = {
    "owner": EVERY_SCOPE,
    "admin": EVERY_SCOPE,
    "agent": {
        CONTACTS_READ,
        CONTACTS_WRITE,
        CONVERSATIONS_READ,
        CONVERSATIONS_WRITE,
        MESSAGES_SEND,
    },
    "sales": {CONTACTS_READ, CONTACTS_WRITE, CONVERSATIONS_READ},
    "viewer": {CONTACTS_READ, CONVERSATIONS_READ},
}

C = "contacts/<uuid:contact_id>/"
V = "conversations/<uuid:conversation_id>/"
W = "webhooks/<uuid:webhook_id>/"
# What each route and method needs. Members, teams and brand accounts are read by those
# who work conversations and managed by admins; API keys, the audit log and the inbound
# event log are for admins; a data subject export is a write-level act on a contact.
PERMISSIONS: dict[str, dict[str, str | None]] = {
    "": {"GET": ANY, "PATCH": ADMIN},
    "members/": {"GET": CONVERSATIONS_READ, "POST": ADMIN},
    "members/<uuid:member_id>/": {"GET": CONVERSATIONS_READ, "PATCH": ADMIN, "DELETE": ADMIN},
    "teams/": {"GET": CONVERSATIONS_READ, "POST": ADMIN},
    "teams/<uuid:team_id>/": {"GET": CONVERSATIONS_READ, "PATCH": ADMIN, "DELETE": ADMIN},
    "teams/<uuid:team_id>/assignment/": {"GET": CONVERSATIONS_READ, "PATCH": ADMIN},
    "api-keys/": {"GET": ADMIN, "POST": ADMIN},
    "api-keys/<uuid:api_key_id>/": {"GET": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN},
    "audit-log/": {"GET": ADMIN},
    "events/": {"GET": ANY},
    "realtime/tickets/": {"POST": ANY},
    "webhooks/": {"GET": WEBHOOKS, "POST": WEBHOOKS},
    W: {"GET": WEBHOOKS, "PATCH": WEBHOOKS, "DELETE": WEBHOOKS},
    W + "rotate-secret/": {"POST": WEBHOOKS},
    W + "deliveries/": {"GET": WEBHOOKS},
    W + "deliveries/<uuid:delivery_id>/redeliver/": {"POST": WEBHOOKS},
    "conversations/": {"GET": CONVERSATIONS_READ},
    "conversations/bulk/": {"POST": CONVERSATIONS_WRITE},
    V: {"GET": CONVERSATIONS_READ, "PATCH": CONVERSATIONS_WRITE},
    V + "messages/": {"GET": CONVERSATIONS_READ, "POST": MESSAGES_SEND},
    V + "messages/<uuid:message_id>/": {
        "GET": CONVERSATIONS_READ,
        "PATCH": MESSAGES_SEND,
        "DELETE": MESSAGES_SEND,
    },
    "labels/": {"GET": CONVERSATIONS_READ, "POST": CONVERSATIONS_WRITE},
    "labels/<uuid:label_id>/": {
        "GET": CONVERSATIONS_READ,
        "PATCH": CONVERSATIONS_WRITE,
        "DELETE": CONVERSATIONS_WRITE,
    },
    "canned-responses/": {"GET": CONVERSATIONS_READ, "POST": MESSAGES_SEND},
    "canned-responses/<uuid:canned_response_id>/": {
        "GET": CONVERSATIONS_READ,
        "PATCH": MESSAGES_SEND,
        "DELETE": MESSAGES_SEND,
    },
    "inbox-settings/": {"GET": CONVERSATIONS_READ, "PATCH": ADMIN},
    "reports/summary/": {"GET": CONVERSATIONS_READ},
    "contacts/": {"GET": CONTACTS_READ, "POST": CONTACTS_WRITE},
    "contacts/merge/": {"POST": CONTACTS_WRITE},
    "contacts/import/": {"POST": CONTACTS_WRITE},
    "contacts/export.csv": {"GET": CONTACTS_READ},
    C: {"GET": CONTACTS_READ, "PATCH": CONTACTS_WRITE, "DELETE": CONTACTS_WRITE},
    C + "identities/": {"GET": CONTACTS_READ, "POST": CONTACTS_WRITE},
    C + "identities/<uuid:identity_id>/": {"GET": CONTACTS_READ, "DELETE": CONTACTS_WRITE},
    C + "timeline/": {"GET": CONTACTS_READ},
    C + "notes/": {"GET": CONTACTS_READ, "POST": CONTACTS_WRITE},
    C + "duplicates/": {"GET": CONTACTS_READ},
    C + "merges/": {"GET": CONTACTS_READ},
    C + "unmerge/": {"POST": CONTACTS_WRITE},
    C + "export/": {"GET": CONTACTS_WRITE},
    C + "erase/": {"POST": CONTACTS_WRITE},
    "contact-attributes/": {"GET": CONTACTS_READ, "POST": ADMIN},
    "contact-attributes/<uuid:attribute_id>/": {
        "GET": CONTACTS_READ,
        "PATCH": ADMIN,
        "DELETE": ADMIN,
    },
    "brand-accounts/": {"GET": CONVERSATIONS_READ, "POST": ADMIN},
    "brand-accounts/<uuid:brand_account_id>/": {
        "GET": CONVERSATIONS_READ,
        "PATCH": ADMIN,
        "DELETE": ADMIN,
    },
    "brand-accounts/<uuid:brand_account_id>/backfill/": {"POST": ADMIN},
    "inbound-events/": {"GET": ADMIN},
    "inbound-events/<uuid:inbound_event_id>/replay/": {"POST": ADMIN},
}

# README, "Contacts": sales members change only the contacts they own (the contact here is
# theirs); merges, imports, exports of a person, erasure and deletion are for agents and
# admins.
SALES_REFUSED = {
    ("contacts/merge/", "POST"),
    (C + "unmerge/", "POST"),
    ("contacts/import/", "POST"),
    (C + "export/", "GET"),
    (C + "erase/", "POST"),
    (C, "DELETE"),
}


def allowed(role: str, route: str, method: str) -> bool:
    if role == "sales" and (route, method.upper()) in SALES_REFUSED:
        return False
    needed = PERMISSIONS[route][method.upper()]
    return needed is ANY or needed in ROLES[role]


def test_the_table_names_every_route_and_method_and_no_other():
    walked = {(route, m.upper()) for route, methods in ROUTES for m in methods}
    documented = {(route, m) for route, methods in PERMISSIONS.items() for m in methods}

    assert walked - documented == set(), "document these in PERMISSIONS"
    assert documented - walked == set(), "these no longer exist"


def _calls():
    """Every (route, method), deletions (erasure among them) last and the deepest first,
    so that every object lives until its own deletion."""
    calls = [(route, m) for route, methods in ROUTES for m in methods]
    return sorted(
        calls,
        key=lambda call: (call[1] == "delete" or call[0].endswith("erase/"), -call[0].count("/")),
    )


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_is_allowed_exactly_what_the_documentation_says(role, make_workspace):
    ws = make_workspace(f"matrix-{role}")
    ids = victim_objects(ws)
    membership, token = ws.add_member(role)
    # Sales change the contacts they own, and members edit and delete their own private
    # notes only: the objects under test are the member's own.
    Contact.objects.filter(pk=ids["contact_id"]).update(owner=membership)
    author = Actor.for_member(membership) if MESSAGES_SEND in ROLES[role] else ws.owner_actor
    conversation = Conversation.objects.get(pk=ids["conversation_id"])
    ids["message_id"] = message_send(
        actor=author, conversation=conversation, text="a note", private=True
    ).pk
    client = client_with(token)

    wrong = []
    for route, method in _calls():
        url = fill(route, ws.slug, ids)
        response = getattr(client, method)(url, {}, format="json")
        status = response.status_code
        expected_allowed = allowed(role, route, method)
        if status >= 500 or status == 401:
            wrong.append(f"{method.upper()} {route}: {status}")
        elif expected_allowed and status == 403:
            wrong.append(f"{method.upper()} {route}: 403 {response.json()['error']['message']}")
        elif not expected_allowed and status != 403:
            wrong.append(f"{method.upper()} {route}: {status}, expected 403")
        elif status == 403:
            assert response.json()["error"]["code"] == "permission_denied"
        elif status == 404 and PARAM.search(route):
            wrong.append(f"{method.upper()} {route}: 404 for an object of its own workspace")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)
