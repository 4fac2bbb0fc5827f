"""Labels and canned responses: CRUD, unique names, placeholders, roles."""

from conversations.models import Conversation
from tests.conftest import client_with


def test_labels_crud(ws, client, inbox):
    created = client.post(ws.url("labels/"), {"name": "billing", "color": "#f00"}, format="json")
    assert created.status_code == 201
    label = created.json()
    url = ws.url(f"labels/{label['id']}/")

    assert client.get(ws.url("labels/")).json()["results"][0]["name"] == "billing"
    assert client.patch(url, {"name": "invoices"}, format="json").json()["name"] == "invoices"
    duplicate = client.post(ws.url("labels/"), {"name": "invoices"}, format="json")
    assert duplicate.status_code == 409

    conversation = inbox.conversation()
    client.patch(
        ws.url(f"conversations/{conversation.pk}/"), {"labels": [label["id"]]}, format="json"
    )
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).labels.count() == 0


def test_canned_responses_crud_and_rendering(ws, client, inbox):
    created = client.post(
        ws.url("canned-responses/"),
        {"name": "thanks", "text": "Thanks {{contact.name}}! {{agent.first_name}} {{unknown}}"},
        format="json",
    )
    assert created.status_code == 201
    canned = created.json()
    url = ws.url(f"canned-responses/{canned['id']}/")
    conversation = inbox.conversation(contact=inbox.contact("Ann Lee"))
    _, token = ws.add_member("agent")

    rendered = client_with(token).get(f"{url}?conversation={conversation.pk}").json()
    assert rendered["rendered"] == "Thanks Ann Lee! Agent {{unknown}}"
    assert client.get(url).json()["rendered"] is None
    assert client.patch(url, {"text": "Bye"}, format="json").json()["text"] == "Bye"
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_viewers_read_the_library_but_do_not_change_it(ws):
    _, token = ws.add_member("viewer")
    client = client_with(token)

    assert client.get(ws.url("labels/")).status_code == 200
    assert client.get(ws.url("canned-responses/")).status_code == 200
    assert client.post(ws.url("labels/"), {"name": "x"}, format="json").status_code == 403
    response = client.post(ws.url("canned-responses/"), {"name": "x", "text": "y"}, format="json")
    assert response.status_code == 403


def test_inbox_settings_and_team_assignment_are_admin_settings(ws, client):
    from crm.services.workspaces import team_create

    team = team_create(actor=ws.owner_actor, name="Support")
    body = client.patch(
        ws.url("inbox-settings/"),
        {
            "agents_see_only_their_teams": True,
            "timezone": "Europe/Paris",
            "business_hours": {"mon": [["09:00", "17:00"]]},
        },
        format="json",
    ).json()
    assert body["agents_see_only_their_teams"] is True
    bad = client.patch(ws.url("inbox-settings/"), {"timezone": "Mars/Base"}, format="json")
    assert bad.status_code == 400
    hours = client.patch(
        ws.url("inbox-settings/"),
        {"business_hours": {"mon": [["17:00", "09:00"]]}},
        format="json",
    )
    assert hours.status_code == 400

    assignment = client.patch(
        ws.url(f"teams/{team.pk}/assignment/"),
        {"auto_assign": True, "max_open_per_agent": 5},
        format="json",
    ).json()
    assert (assignment["auto_assign"], assignment["max_open_per_agent"]) == (True, 5)

    _, agent_token = ws.add_member("agent")
    denied = client_with(agent_token).patch(
        ws.url(f"teams/{team.pk}/assignment/"), {"auto_assign": False}, format="json"
    )
    assert denied.status_code == 403
