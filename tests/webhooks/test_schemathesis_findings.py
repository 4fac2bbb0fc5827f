"""Regressions for what schemathesis found against the live service (.ci/schemathesis)."""

from django.core.files.uploadedfile import SimpleUploadedFile


def test_a_csv_header_with_undecodable_bytes_gets_a_report_not_a_500(client, ws):
    upload = SimpleUploadedFile("c.csv", b"name,\xff\x89PNG\nAda,x\n", content_type="text/csv")
    response = client.post(ws.url("contacts/import/"), {"file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    assert "name,\ufffd" not in response.json()["columns"]
    assert any("\ufffd" in header for header in response.json()["columns"])


def test_an_assignment_cap_beyond_the_column_is_a_validation_error(client, ws):
    team = client.post(ws.url("teams/"), {"name": "Support"}).json()
    response = client.patch(
        ws.url(f"teams/{team['id']}/assignment/"),
        {"max_open_per_agent": 30346303343957692},
        format="json",
    )
    assert response.status_code == 400
    assert "max_open_per_agent" in response.json()["error"]["details"]


def test_nul_characters_and_lone_surrogates_in_json_are_a_400(client, ws):
    for raw in (
        b'{"name": "Ada", "attributes": {"a\\u0000b": 1}}',
        b'{"name": "Ada\\u0000"}',
        b'{"name": "Ada", "attributes": {"k": ["\\ud800"]}}',
    ):
        response = client.generic("POST", ws.url("contacts/"), raw, content_type="application/json")
        assert response.status_code == 400, (raw, response.content)
        assert response.json()["error"]["code"] == "parse_error"
    ok = client.post(ws.url("contacts/"), {"name": "Ada \U0001f600"}, format="json")
    assert ok.status_code == 201
