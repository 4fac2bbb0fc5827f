"""Who may do what with contacts: the role x endpoint matrix, through the API.

Sales and viewers read contacts and timelines; sales add notes and change the contacts
they own; agents and admins do everything (attribute definitions are workspace settings:
admins only). Every denied request also leaves the data unchanged.
"""

import pytest

from contacts.models import Contact, ContactMerge, Note
from contacts.services import contacts_merge
from tests.conftest import client_with

ROLES = ("admin", "agent", "sales", "viewer")
OK = {"GET": 200, "POST": 201, "PATCH": 200, "DELETE": 204}


def _case(method, path, allowed, body=None, ok=None):
    return (method, path, set(allowed), body or {}, ok)


ALL = ROLES
WRITERS = ("admin", "agent")
MATRIX = [
    _case("GET", "contacts/", ALL),
    _case("POST", "contacts/", ("admin", "agent", "sales"), {"name": "New"}),
    _case("GET", "contacts/export.csv", ALL),
    _case("GET", "contacts/{other}/", ALL),
    _case("PATCH", "contacts/{other}/", WRITERS, {"company": "Changed"}),
    _case("PATCH", "contacts/{own}/", ("admin", "agent", "sales"), {"company": "Changed"}),
    _case("DELETE", "contacts/{other}/", WRITERS),
    _case("DELETE", "contacts/{own}/", WRITERS),
    _case("GET", "contacts/{other}/timeline/", ALL),
    _case("GET", "contacts/{other}/notes/", ALL),
    _case("POST", "contacts/{other}/notes/", ("admin", "agent", "sales"), {"text": "Hi"}),
    _case("GET", "contacts/{other}/identities/", ALL),
    _case(
        "POST",
        "contacts/{other}/identities/",
        WRITERS,
        {"platform": "telegram", "external_id": "1"},
    ),
    _case(
        "POST",
        "contacts/{own}/identities/",
        ("admin", "agent", "sales"),
        {"platform": "telegram", "external_id": "2"},
    ),
    _case("GET", "contacts/{other}/duplicates/", ALL),
    _case("GET", "contacts/{other}/merges/", ALL),
    _case("POST", "contacts/merge/", WRITERS, {"primary": "{other}", "duplicate": "{spare}"}, 200),
    _case("POST", "contacts/{merged}/unmerge/", WRITERS, {"merge": "{merge}"}, 200),
    _case("GET", "contacts/{other}/export/", WRITERS),
    _case("POST", "contacts/{other}/erase/", WRITERS, ok=200),
    _case("POST", "contacts/{own}/erase/", WRITERS, ok=200),
    _case("POST", "contacts/import/", WRITERS, {"csv": "name\nImported\n"}, 200),
    _case("GET", "contact-attributes/", ALL),
    _case("POST", "contact-attributes/", ("admin",), {"key": "k", "label": "K", "type": "text"}),
]


def _fill(value, ids):
    if isinstance(value, str):
        for name, id_ in ids.items():
            value = value.replace("{" + name + "}", str(id_))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _snapshot():
    return (
        sorted(Contact.objects.values_list("id", "company", "erased_at", "merged_into_id")),
        Note.objects.count(),
        ContactMerge.objects.filter(unmerged_at__isnull=True).count(),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "allowed", "body", "ok"),
    MATRIX,
    ids=[f"{m} {p}" for m, p, *_ in MATRIX],
)
def test_role_matrix(ws, make_contact, role, method, path, allowed, body, ok):
    member, token = ws.add_member(role)
    other = make_contact(name="Someone's")
    own = make_contact(name="Mine", owner=member.pk)
    spare = make_contact(name="Spare")
    merged = make_contact(name="Merged primary")
    absorbed = make_contact(name="Absorbed")
    merge = contacts_merge(actor=ws.owner_actor, primary_id=merged.pk, duplicate_id=absorbed.pk)
    ids = {
        "other": other.pk,
        "own": own.pk,
        "spare": spare.pk,
        "merged": merged.pk,
        "merge": merge.merge.pk,
    }
    before = _snapshot()

    response = getattr(client_with(token), method.lower())(
        ws.url(_fill(path, ids)), _fill(body, ids), format="json"
    )

    expected = (ok or OK[method]) if role in allowed else 403
    assert response.status_code == expected, response.json() if not response.streaming else response
    if expected == 403:
        assert response.json()["error"]["code"] == "permission_denied"
        assert _snapshot() == before


def test_sales_own_the_contacts_they_create_and_cannot_give_them_away(ws):
    sales, token = ws.add_member("sales")
    colleague, _ = ws.add_member("agent")
    client = client_with(token)

    created = client.post(ws.url("contacts/"), {"name": "Lead"}).json()
    give_away = client.patch(ws.url(f"contacts/{created['id']}/"), {"owner": str(colleague.pk)})
    create_for_other = client.post(ws.url("contacts/"), {"name": "X", "owner": str(colleague.pk)})

    assert created["owner"] == str(sales.pk)
    assert give_away.status_code == 403
    assert create_for_other.status_code == 403


def test_api_keys_follow_their_scopes(ws):
    from crm.services.workspaces import api_key_create

    read_only = api_key_create(
        actor=ws.owner_actor, name="reader", key_scopes=["contacts:read"], expires_at=None
    ).token
    client = client_with(read_only)

    assert client.get(ws.url("contacts/")).status_code == 200
    assert client.post(ws.url("contacts/"), {"name": "No"}).status_code == 403
