"""CSV import (command and API) and the streaming CSV export of a filtered list."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from contacts.models import Contact, Identity
from contacts.services import identity_create


def _rows(report):
    return {r["row"]: r for r in report["rows"]}


def test_import_creates_updates_and_rejects_row_by_row(ws, client, make_contact):
    client.post(
        ws.url("contact-attributes/"),
        {"key": "plan", "label": "Plan", "type": "select", "options": ["free", "pro"]},
    )
    existing_by_email = make_contact(name="Old Name", email="ann@example.com", tags=["old"])
    existing_by_phone = make_contact(name="Bob", phone="+1 555 010 9999")
    by_handle = make_contact(name="Cy")
    identity_create(
        actor=ws.owner_actor, contact=by_handle, platform="x", external_id="7", handle="cy_x"
    )
    data = (
        "First Name,Last Name,E-mail,Mobile,Company,Tags,Twitter,Plan,Stage\n"
        "Ann,Lee,ANN@example.com,,Acme,new;vip,,pro,customer\n"  # 2: updates by email
        "Bob,,,(555) 010-9999 ,,,,,\n"  # 3: phone digits differ by the country code: new
        ",,,,,,@Cy_X,free,\n"  # 4: updates by handle
        "Dee,,dee@example.com,,,,,gold,\n"  # 5: bad attribute value
        "Eve,,not-an-email,,,,,,\n"  # 6: bad email
        "Fay,,fay@example.com\n"  # 7: wrong number of cells
        ",,,,,,,,\n"  # blank line: skipped
        "Gus,,gus@example.com,+1 555 010 9999,,,,,lead\n"  # 9: updates by phone
        "Hal,,hal@example.com,,,,,,whale\n"  # 10: bad stage
        "Ivy,,ivy@example.com,,,,ivy_x,,\n"  # 11: created with a handle
        "Ivy again,,ivy@example.com,,,,,,\n"  # 12: the row before is now a match
    )

    response = client.post(ws.url("contacts/import/"), {"csv": data})

    assert response.status_code == 200, response.json()
    report = response.json()
    rows = _rows(report)
    assert (report["created"], report["updated"], report["rejected"]) == (2, 4, 4)
    assert rows[2]["status"] == "updated"
    assert rows[2]["contact"] == str(existing_by_email.pk)
    assert rows[3]["status"] == "created"
    assert rows[4]["contact"] == str(by_handle.pk)
    assert "attributes" in rows[5]["errors"]
    assert "email" in rows[6]["errors"]
    assert "row" in rows[7]["errors"]
    assert rows[9]["contact"] == str(existing_by_phone.pk)
    assert "lifecycle_stage" in rows[10]["errors"]
    assert rows[12]["status"] == "updated"
    assert rows[12]["contact"] == rows[11]["contact"]
    assert report["columns"]["Twitter"] == "handle:x"
    assert report["columns"]["Plan"] == "attribute:plan"

    ann = Contact.objects.get(pk=existing_by_email.pk)
    assert ann.name == "Ann Lee"
    assert ann.company == "Acme"
    assert ann.tags == ["old", "new", "vip"]
    assert ann.attributes == {"plan": "pro"}
    assert ann.lifecycle_stage == "customer"
    assert Contact.objects.get(pk=by_handle.pk).attributes == {"plan": "free"}
    ivy = Contact.objects.get(pk=rows[11]["contact"])
    assert ivy.name == "Ivy again"
    assert Identity.objects.get(contact=ivy).handle == "ivy_x"
    assert not Contact.objects.filter(email__in=["dee@example.com", "hal@example.com"]).exists()
    # Imported contacts are searchable at once.
    found = client.get(ws.url("contacts/"), {"q": "ivy_x"}).json()["results"]
    assert [c["id"] for c in found] == [str(ivy.pk)]


def test_import_takes_an_explicit_mapping_and_a_multipart_file(ws, client):
    upload = SimpleUploadedFile(
        "people.csv", "Nom;Courriel\n".replace(";", ",").encode() + "Zoë,zoe@example.fr\n".encode()
    )

    response = client.post(
        ws.url("contacts/import/"),
        {"file": upload, "mapping": '{"Nom": "name", "Courriel": "email"}'},
        format="multipart",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["created"] == 1
    assert Contact.objects.get().name == "Zoë"


def test_import_refuses_an_unknown_mapping_target_and_an_empty_file(ws, client):
    bad = client.post(ws.url("contacts/import/"), {"csv": "a\n1\n", "mapping": {"a": "shoe_size"}})
    empty = client.post(ws.url("contacts/import/"), {"csv": ""})

    assert bad.status_code == 400
    assert "mapping" in bad.json()["error"]["details"]
    assert empty.status_code == 400


def test_a_row_with_broken_bytes_is_rejected_and_the_rest_imported(ws, client):
    data = (
        b"name,email\nGood,good@example.com\n"
        b"Bad \xff\xfe,bad@example.com\n"
        b"Also good,also@example.com\n"
    )
    upload = SimpleUploadedFile("people.csv", data)

    report = client.post(ws.url("contacts/import/"), {"file": upload}, format="multipart").json()

    assert (report["created"], report["rejected"]) == (2, 1)
    assert _rows(report)[3]["status"] == "rejected"


def test_the_import_command_prints_progress_and_a_report(ws, tmp_path):
    path = tmp_path / "people.csv"
    lines = ["name,email,instagram"] + [f"P{i},p{i}@example.com,p{i}.ig" for i in range(25)]
    lines.append("Broken,not-an-email,")
    path.write_text("\n".join(lines) + "\n")
    out = io.StringIO()

    call_command(
        "import_contacts",
        str(path),
        "--workspace",
        ws.slug,
        "--map",
        "instagram=handle:instagram",
        "--report",
        str(tmp_path / "report.json"),
        stdout=out,
    )

    output = out.getvalue()
    assert "26/26" in output
    assert "line 27: rejected" in output
    assert "25 created, 0 updated, 1 rejected" in output
    assert Contact.objects.filter(workspace=ws.workspace).count() == 25
    assert (tmp_path / "report.json").exists()

    call_command("import_contacts", str(path), "--workspace", ws.slug, stdout=io.StringIO())
    assert Contact.objects.filter(workspace=ws.workspace).count() == 25


def test_csv_export_streams_the_filtered_list(ws, client, make_contact):
    make_contact(name="Vip One", email="one@example.com", tags=["vip"])
    make_contact(name='=HYPERLINK("evil")', tags=["vip"], phone="+44 20 7946 0000")
    make_contact(name="Not Vip", tags=["other"])

    response = client.get(ws.url("contacts/export.csv"), {"tag": "vip"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["name"] for r in rows] == ["Vip One", '\'=HYPERLINK("evil")']
    assert rows[0]["email"] == "one@example.com"
    assert rows[1]["phone"] == "+44 20 7946 0000"
    shown = client.get(ws.url(f"contacts/{rows[0]['id']}/")).json()
    assert (rows[0]["created_at"], rows[0]["updated_at"]) == (
        shown["created_at"],
        shown["updated_at"],
    )
    assert client.get(ws.url("contacts/export.csv"), {"platform": "nope"}).status_code == 400
