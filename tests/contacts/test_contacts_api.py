"""Contacts through the API: fields, validation, filters, search, events, attributes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Contact
from crm.models import Event


def _events(ws, type_):
    return list(Event.objects.filter(workspace=ws.workspace, type=type_).order_by("seq"))


def test_create_retrieve_update_delete_a_contact(ws, client):
    created = client.post(
        ws.url("contacts/"),
        {
            "name": "Zoé Martin",
            "email": "Zoe@Example.com",
            "phone": "+33 6 12 34 56 78",
            "company": "Acme",
            "lifecycle_stage": "lead",
            "owner": str(ws.owner.pk),
            "tags": ["VIP", "vip", " beta "],
        },
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert set(body) >= {
        "id",
        "name",
        "email",
        "phone",
        "company",
        "lifecycle_stage",
        "owner",
        "tags",
        "attributes",
        "identities",
        "created_at",
        "updated_at",
    }
    assert body["email"] == "zoe@example.com"
    assert body["tags"] == ["VIP", "beta"]
    assert body["owner"] == str(ws.owner.pk)
    assert body["identities"] == []

    url = ws.url(f"contacts/{body['id']}/")
    assert client.get(url).json() == body
    updated = client.patch(url, {"company": "Globex", "lifecycle_stage": "customer"})
    assert updated.status_code == 200
    assert updated.json()["company"] == "Globex"
    assert updated.json()["name"] == "Zoé Martin"
    assert updated.json()["updated_at"] > body["updated_at"]

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_every_change_records_an_event_with_the_contact_as_the_api_shows_it(ws, client):
    body = client.post(ws.url("contacts/"), {"name": "Ann"}).json()
    patched = client.patch(ws.url(f"contacts/{body['id']}/"), {"name": "Anne"}).json()
    client.post(ws.url(f"contacts/{body['id']}/notes/"), {"text": "Called her"})
    client.post(
        ws.url(f"contacts/{body['id']}/identities/"),
        {"platform": "x", "external_id": "42", "handle": "anne"},
    )

    assert [e.data for e in _events(ws, "contact.created")] == [body]
    updates = _events(ws, "contact.updated")
    assert updates[0].data == patched
    assert len(updates) == 3
    assert updates[-1].data == client.get(ws.url(f"contacts/{body['id']}/")).json()
    assert updates[-1].data["identities"][0]["handle"] == "anne"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "call me maybe"}, "phone"),
        ({"lifecycle_stage": "whale"}, "lifecycle_stage"),
        ({"owner": "00000000-0000-0000-0000-000000000000"}, "owner"),
        ({"tags": ["a|b"]}, "tags"),
        ({"attributes": {"undefined_key": 1}}, "attributes"),
    ],
)
def test_invalid_fields_are_refused_with_the_field_named(ws, client, payload, field):
    response = client.post(ws.url("contacts/"), payload)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["details"]
    assert Contact.objects.count() == 0


def test_typed_custom_attributes_follow_their_definitions(ws, client):
    for definition in (
        {"key": "plan", "label": "Plan", "type": "select", "options": ["free", "pro"]},
        {"key": "seats", "label": "Seats", "type": "number"},
        {"key": "renewal", "label": "Renewal", "type": "date"},
        {"key": "churned", "label": "Churned", "type": "boolean"},
        {"key": "site", "label": "Website", "type": "url"},
    ):
        assert client.post(ws.url("contact-attributes/"), definition).status_code == 201
    taken = {"key": "plan", "label": "X", "type": "text"}
    assert client.post(ws.url("contact-attributes/"), taken).status_code == 409

    good = client.post(
        ws.url("contacts/"),
        {
            "name": "Typed",
            "attributes": {
                "plan": "pro",
                "seats": 12,
                "renewal": "2027-01-31",
                "churned": False,
                "site": "https://typed.example",
            },
        },
    )
    assert good.status_code == 201, good.json()
    assert good.json()["attributes"]["seats"] == 12

    bad = client.post(
        ws.url("contacts/"),
        {"attributes": {"plan": "enterprise", "seats": "many", "renewal": "31/01/2027"}},
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["details"]["attributes"]) == {"plan", "seats", "renewal"}

    url = ws.url(f"contacts/{good.json()['id']}/")
    cleared = client.patch(url, {"attributes": {"seats": None, "plan": "free"}}).json()
    assert cleared["attributes"] == {
        "plan": "free",
        "renewal": "2027-01-31",
        "churned": False,
        "site": "https://typed.example",
    }


def test_deleting_an_attribute_definition_removes_its_values(ws, client):
    definition = client.post(
        ws.url("contact-attributes/"), {"key": "score", "label": "Score", "type": "number"}
    ).json()
    contact = client.post(ws.url("contacts/"), {"attributes": {"score": 3}}).json()

    in_use = client.patch(
        ws.url(f"contact-attributes/{definition['id']}/"), {"label": "Lead score"}
    )
    assert in_use.json()["label"] == "Lead score"
    assert client.delete(ws.url(f"contact-attributes/{definition['id']}/")).status_code == 204
    assert client.get(ws.url(f"contacts/{contact['id']}/")).json()["attributes"] == {}


def test_removing_a_select_option_still_in_use_is_a_conflict(ws, client):
    definition = client.post(
        ws.url("contact-attributes/"),
        {"key": "tier", "label": "Tier", "type": "select", "options": ["gold", "silver"]},
    ).json()
    client.post(ws.url("contacts/"), {"attributes": {"tier": "gold"}})

    response = client.patch(
        ws.url(f"contact-attributes/{definition['id']}/"), {"options": ["silver"]}
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "attribute_option_in_use"


def _ids(response):
    assert response.status_code == 200, response.json()
    return {c["id"] for c in response.json()["results"]}


def test_q_finds_by_name_email_phone_and_handle_ignoring_case_and_accents(ws, client):
    jose = client.post(
        ws.url("contacts/"),
        {"name": "José Álvarez", "email": "jalvarez@Example.org", "phone": "+34 600-123-456"},
    ).json()
    client.post(
        ws.url(f"contacts/{jose['id']}/identities/"),
        {"platform": "x", "external_id": "9001", "handle": "@PepeTweets"},
    )
    other = client.post(ws.url("contacts/"), {"name": "Joseph Other", "email": "jo@x.org"}).json()

    queries = (
        "jose alv",
        "JOSÉ ÁLVAREZ",
        "alvarez",
        "jalvarez@example",
        "600 123 456",
        "+34600123456",
        "pepetweets",
        "@pepe",
    )
    for q in queries:
        assert _ids(client.get(ws.url("contacts/"), {"q": q})) == {jose["id"]}, q
    assert _ids(client.get(ws.url("contacts/"), {"q": "jos"})) == {jose["id"], other["id"]}
    assert _ids(client.get(ws.url("contacts/"), {"q": "nobody"})) == set()
    assert _ids(client.get(ws.url("contacts/"), {"q": "100%"})) == set()


def test_list_filters(ws, client, make_brand_account):
    _, sales_token = ws.add_member("sales")
    sales = ws.add_member("sales")[0]
    a = client.post(
        ws.url("contacts/"), {"name": "A", "tags": ["VIP", "beta"], "lifecycle_stage": "lead"}
    ).json()
    b = client.post(
        ws.url("contacts/"),
        {"name": "B", "tags": ["vip"], "owner": str(sales.pk), "lifecycle_stage": "customer"},
    ).json()
    c = client.post(ws.url("contacts/"), {"name": "C", "tags": ["vipish"]}).json()
    page = make_brand_account("facebook")
    client.post(
        ws.url(f"contacts/{c['id']}/identities/"),
        {"platform": "facebook", "external_id": "psid", "brand_account": str(page.pk)},
    )
    Contact.objects.filter(pk=a["id"]).update(updated_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()

    def ids(**params):
        return _ids(client.get(ws.url("contacts/"), params))

    assert ids(tag="vip") == {a["id"], b["id"]}
    assert ids(tag=["vip", "beta"]) == {a["id"]}
    assert ids(platform="facebook") == {c["id"]}
    assert ids(owner=str(sales.pk)) == {b["id"]}
    assert ids(owner="none") == {a["id"], c["id"]}
    assert ids(lifecycle_stage="customer") == {b["id"]}
    assert ids(updated_after=since) == {b["id"], c["id"]}
    assert ids(tag="vip", lifecycle_stage="lead") == {a["id"]}
    from tests.conftest import client_with

    mine = client_with(sales_token).get(ws.url("contacts/"), {"owner": "me"})
    assert _ids(mine) == set()
    assert client.get(ws.url("contacts/"), {"owner": "me"}).status_code == 400
    assert client.get(ws.url("contacts/"), {"platform": "myspace"}).status_code == 400
    assert client.get(ws.url("contacts/"), {"updated_after": "yesterday"}).status_code == 400


def test_list_is_cursor_paginated_in_a_stable_order(ws, client, make_contact):
    made = [make_contact(name=f"P{i}") for i in range(7)]

    first = client.get(ws.url("contacts/"), {"page_size": 3}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()

    seen = [c["id"] for page in (first, second, third) for c in page["results"]]
    assert seen == [str(c.pk) for c in reversed(made)]
    assert third["next"] is None


def test_list_query_count_does_not_grow_with_the_page(
    ws, client, make_contact, make_brand_account, django_assert_max_num_queries
):
    from contacts.services import identity_resolve

    for i in range(12):
        contact = make_contact(name=f"Q{i}")
        for platform in ("x", "telegram"):
            identity = identity_resolve(
                workspace=ws.workspace, platform=platform, external_id=f"{platform}{i}"
            )
            identity.contact = contact
            identity.save()

    client.get(ws.url("contacts/"), {"page_size": 2})
    with django_assert_max_num_queries(8) as small:
        client.get(ws.url("contacts/"), {"page_size": 2})
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(ws.url("contacts/"), {"page_size": 20})
    assert len(response.json()["results"]) == 20
