"""Identities: unique as the platforms scope their ids; found or created by ingest."""

import threading

import pytest
from django.db import connection

from contacts.models import Contact, Identity
from contacts.services import identity_resolve
from crm.models import Event


def test_an_identity_is_added_listed_and_removed(ws, client, make_contact):
    contact = make_contact(name="Ida")
    url = ws.url(f"contacts/{contact.pk}/identities/")

    created = client.post(
        url,
        {
            "platform": "telegram",
            "external_id": "777",
            "handle": "ida_t",
            "display_name": "Ida T.",
            "avatar_url": "https://cdn.example/ida.png",
        },
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert {k: body[k] for k in ("platform", "external_id", "handle", "brand_account")} == {
        "platform": "telegram",
        "external_id": "777",
        "handle": "ida_t",
        "brand_account": None,
    }
    assert [i["id"] for i in client.get(url).json()["results"]] == [body["id"]]
    assert (
        client.delete(ws.url(f"contacts/{contact.pk}/identities/{body['id']}/")).status_code == 204
    )
    assert client.get(url).json()["results"] == []


def test_global_ids_are_unique_across_brand_accounts(ws, client, make_contact):
    a, b = make_contact(name="A"), make_contact(name="B")
    client.post(ws.url(f"contacts/{a.pk}/identities/"), {"platform": "x", "external_id": "1"})

    again = client.post(
        ws.url(f"contacts/{b.pk}/identities/"), {"platform": "x", "external_id": "1"}
    )

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "identity_exists"
    assert again.json()["error"]["details"]["contact"] == str(a.pk)


def test_page_scoped_ids_are_unique_per_brand_account(ws, client, make_contact, make_brand_account):
    page_one, page_two = make_brand_account("facebook"), make_brand_account("facebook")
    a, b = make_contact(name="A"), make_contact(name="B")

    def add(contact, page):
        return client.post(
            ws.url(f"contacts/{contact.pk}/identities/"),
            {"platform": "facebook", "external_id": "psid-1", "brand_account": str(page.pk)},
        )

    assert add(a, page_one).status_code == 201
    # The same PSID through another Page is another person's id (CHANNELS.md).
    assert add(b, page_two).status_code == 201
    assert add(b, page_one).status_code == 409
    no_page = client.post(
        ws.url(f"contacts/{a.pk}/identities/"), {"platform": "instagram", "external_id": "igsid"}
    )
    assert no_page.status_code == 400
    assert "brand_account" in no_page.json()["error"]["details"]


def test_a_brand_account_of_another_workspace_is_refused(
    ws, other_ws, client, make_contact, make_brand_account
):
    theirs = make_brand_account("facebook", workspace=other_ws)
    contact = make_contact(name="A")

    response = client.post(
        ws.url(f"contacts/{contact.pk}/identities/"),
        {"platform": "facebook", "external_id": "p", "brand_account": str(theirs.pk)},
    )

    assert response.status_code == 400


def test_identity_resolve_is_idempotent_and_updates_the_profile(ws, make_brand_account):
    page = make_brand_account("facebook")

    first = identity_resolve(
        workspace=ws.workspace,
        platform="facebook",
        external_id="psid-9",
        brand_account=page,
        display_name="Lou Reed",
    )
    again = identity_resolve(
        workspace=ws.workspace, platform="facebook", external_id="psid-9", brand_account=page
    )
    renamed = identity_resolve(
        workspace=ws.workspace,
        platform="facebook",
        external_id="psid-9",
        brand_account=page,
        display_name="Lou R.",
        avatar_url="https://cdn.example/lou.png",
        profile={"locale": "en_US"},
    )

    assert first.pk == again.pk == renamed.pk
    assert first.contact.name == "Lou Reed"
    assert Identity.objects.count() == 1
    assert Contact.objects.count() == 1
    identity = Identity.objects.get()
    assert identity.display_name == "Lou R."
    assert identity.profile == {"locale": "en_US"}
    assert identity.brand_account_id == page.pk
    types = list(Event.objects.filter(workspace=ws.workspace).values_list("type", flat=True))
    assert types == ["contact.created", "contact.updated"]


def test_identity_resolve_ignores_the_brand_account_for_global_ids(ws, make_brand_account):
    one, two = make_brand_account("whatsapp"), make_brand_account("whatsapp")

    a = identity_resolve(
        workspace=ws.workspace, platform="whatsapp", external_id="33612345678", brand_account=one
    )
    b = identity_resolve(
        workspace=ws.workspace, platform="whatsapp", external_id="33612345678", brand_account=two
    )

    assert a.pk == b.pk
    assert a.brand_account is None


def test_identity_resolve_adopts_a_handle_imported_before(ws, client):
    client.post(
        ws.url("contacts/import/"),
        {"csv": "name,instagram\nMia,@mia.design\n"},
    )
    from integrations.models import BrandAccount

    account = BrandAccount.objects.create(
        workspace=ws.workspace, platform="instagram", name="IG", external_id="ig-1"
    )

    identity = identity_resolve(
        workspace=ws.workspace,
        platform="instagram",
        external_id="igsid-55",
        brand_account=account,
        handle="mia.design",
    )

    assert identity.contact.name == "Mia"
    assert identity.external_id == "igsid-55"
    assert Identity.objects.count() == 1


def test_identity_resolve_follows_a_merge(ws, make_contact):
    identity = identity_resolve(workspace=ws.workspace, platform="x", external_id="5")
    primary = make_contact(name="Primary")
    from contacts.services import contacts_merge

    contacts_merge(actor=ws.owner_actor, primary_id=primary.pk, duplicate_id=identity.contact_id)

    assert (
        identity_resolve(workspace=ws.workspace, platform="x", external_id="5").contact == primary
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_resolves_of_one_person_make_one_identity_and_one_contact(make_workspace):
    workspace = make_workspace("resolve-race").workspace
    workers = 8
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def resolve():
        try:
            barrier.wait()
            identity = identity_resolve(
                workspace=workspace, platform="telegram", external_id="1234", handle="racer"
            )
            results.append((identity.pk, identity.contact_id))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=resolve) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert len(set(results)) == 1
    assert Identity.objects.filter(workspace=workspace).count() == 1
    assert Contact.objects.filter(workspace=workspace).count() == 1
    assert Event.objects.filter(workspace=workspace, type="contact.created").count() == 1
