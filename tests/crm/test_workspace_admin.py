import pytest

from crm.models import AuditLogEntry, Membership
from tests.conftest import client_with


def test_admin_adds_a_member_and_the_audit_log_says_who_did_it(ws, client):
    response = client.post(ws.url("members/"), {"email": "Zoe@Acme.test", "role": "agent"})

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "zoe@acme.test"
    assert body["role"] == "agent"
    assert body["is_available"] is True
    entry = client.get(ws.url("audit-log/")).json()["results"][0]
    assert entry["action"] == "member.added"
    assert entry["actor"] == {"type": "api_key", "id": str(ws.api_key.pk), "name": "Owner key"}
    assert entry["target_id"] == body["id"]
    assert entry["ip_address"] == "127.0.0.1"


def test_adding_the_same_person_twice_is_a_conflict(ws, client):
    client.post(ws.url("members/"), {"email": "zoe@acme.test", "role": "agent"})

    again = client.post(ws.url("members/"), {"email": "zoe@acme.test", "role": "sales"})

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_member"


@pytest.mark.parametrize("role", ["agent", "sales", "viewer"])
def test_non_admins_read_members_but_cannot_change_them(ws, role):
    target, _ = ws.add_member("agent")
    _, token = ws.add_member(role)
    client = client_with(token)

    assert client.get(ws.url("members/")).status_code == 200
    assert (
        client.post(ws.url("members/"), {"email": "x@y.test", "role": "agent"}).status_code == 403
    )
    assert client.patch(ws.url(f"members/{target.pk}/"), {"role": "admin"}).status_code == 403
    assert client.delete(ws.url(f"members/{target.pk}/")).status_code == 403
    target.refresh_from_db()
    assert target.role == "agent"


def test_an_api_key_cannot_touch_owners_even_with_admin_scope(ws, client):
    response = client.patch(ws.url(f"members/{ws.owner.pk}/"), {"role": "agent"})

    assert response.status_code == 403


def test_an_admin_cannot_make_or_remove_owners(ws):
    _, admin_token = ws.add_member("admin")
    agent, _ = ws.add_member("agent")
    admin = client_with(admin_token)

    promote = admin.patch(ws.url(f"members/{agent.pk}/"), {"role": "owner"})
    remove_owner = admin.delete(ws.url(f"members/{ws.owner.pk}/"))

    assert promote.status_code == 403
    assert remove_owner.status_code == 403
    assert Membership.objects.get(pk=ws.owner.pk).role == "owner"


def test_the_last_owner_stays(ws):
    from crm.services.workspaces import personal_token_create

    _, owner_token = personal_token_create(user=ws.owner.user, name="owner")
    client = client_with(owner_token)
    demote = client.patch(ws.url(f"members/{ws.owner.pk}/"), {"role": "agent"})
    remove = client.delete(ws.url(f"members/{ws.owner.pk}/"))

    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "last_owner"
    assert remove.status_code == 409
    assert Membership.objects.get(pk=ws.owner.pk).role == "owner"


def test_member_availability_is_updated(ws, client):
    agent, _ = ws.add_member("agent")

    response = client.patch(ws.url(f"members/{agent.pk}/"), {"is_available": False})

    assert response.status_code == 200
    assert response.json()["is_available"] is False


def test_teams_crud_with_members(ws, client):
    a, _ = ws.add_member("agent")
    b, _ = ws.add_member("agent")

    created = client.post(ws.url("teams/"), {"name": "Support", "members": [str(a.pk)]})
    team_id = created.json()["id"]
    updated = client.patch(ws.url(f"teams/{team_id}/"), {"members": [str(a.pk), str(b.pk)]})
    duplicate = client.post(ws.url("teams/"), {"name": "Support"})

    assert created.status_code == 201
    assert created.json()["members"] == [str(a.pk)]
    assert sorted(updated.json()["members"]) == sorted([str(a.pk), str(b.pk)])
    assert duplicate.status_code == 409
    member = client.get(ws.url(f"members/{a.pk}/")).json()
    assert member["teams"] == [team_id]
    assert client.delete(ws.url(f"teams/{team_id}/")).status_code == 204
    assert client.get(ws.url(f"teams/{team_id}/")).status_code == 404
    actions = [e.action for e in AuditLogEntry.objects.filter(workspace=ws.workspace)]
    assert {"team.created", "team.updated", "team.deleted"} <= set(actions)


def test_a_team_cannot_hold_members_of_another_workspace(ws, other_ws, client):
    stranger, _ = other_ws.add_member("agent")

    response = client.post(ws.url("teams/"), {"name": "Mixed", "members": [str(stranger.pk)]})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_api_key_is_shown_once_with_its_scopes(ws, client):
    created = client.post(
        ws.url("api-keys/"),
        {"name": "HubSpot sync", "scopes": ["contacts:read", "contacts:write"]},
    )

    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith(body["prefix"])
    assert set(body) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "expires_at",
        "last_used_at",
        "created_at",
        "key",
    }
    listed = client.get(ws.url("api-keys/")).json()["results"]
    shown = client.get(ws.url(f"api-keys/{body['id']}/")).json()
    assert all("key" not in item for item in listed)
    assert "key" not in shown
    assert shown["scopes"] == ["contacts:read", "contacts:write"]


def test_scoped_key_is_held_to_its_scopes(ws, client):
    token = client.post(ws.url("api-keys/"), {"name": "ro", "scopes": ["contacts:read"]}).json()[
        "key"
    ]
    limited = client_with(token)

    assert limited.get(ws.url("contacts/")).status_code == 200
    # Members' names and emails need conversations:read, not just any key of the workspace.
    assert limited.get(ws.url("members/")).status_code == 403
    assert limited.get(ws.url("teams/")).status_code == 403
    denied = limited.get(ws.url("api-keys/"))
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    escalate = limited.post(ws.url("api-keys/"), {"name": "x", "scopes": ["admin"]})
    assert escalate.status_code == 403


def test_a_key_cannot_be_given_more_scopes_than_its_creator_has(ws):
    from crm.actors import Actor
    from crm.exceptions import Forbidden
    from crm.services.workspaces import api_key_create

    agent, _ = ws.add_member("agent")

    with pytest.raises(Forbidden):
        api_key_create(
            actor=Actor.for_member(agent), name="sneaky", key_scopes=["admin"], expires_at=None
        )


def test_key_with_past_expiry_or_unknown_scope_is_refused(ws, client):
    past = client.post(
        ws.url("api-keys/"),
        {"name": "old", "scopes": ["contacts:read"], "expires_at": "2001-01-01T00:00:00Z"},
    )
    unknown = client.post(ws.url("api-keys/"), {"name": "x", "scopes": ["everything"]})

    assert past.status_code == 400
    assert unknown.status_code == 400
    assert "scopes" in unknown.json()["error"]["details"]


def test_a_key_expiry_change_is_audited_in_utc_as_the_api_writes_times(ws, client):
    key = client.post(
        ws.url("api-keys/"),
        {"name": "sync", "scopes": ["contacts:read"], "expires_at": "2031-01-01T00:00:00Z"},
    ).json()

    changed = client.patch(
        ws.url(f"api-keys/{key['id']}/"), {"expires_at": "2031-06-01T12:00:00+02:00"}
    )

    assert changed.status_code == 200
    assert changed.json()["expires_at"] == "2031-06-01T10:00:00Z"
    entry = client.get(ws.url("audit-log/")).json()["results"][0]
    assert entry["action"] == "api_key.updated"
    assert entry["details"]["expires_at"] == ["2031-01-01T00:00:00Z", "2031-06-01T10:00:00Z"]


def test_workspace_detail_and_rename(ws, client):
    assert client.get(ws.url()).json()["slug"] == "acme"

    renamed = client.patch(ws.url(), {"name": "Acme Europe"})

    assert renamed.json()["name"] == "Acme Europe"
    assert client.get("/api/v1/workspaces/").json()["results"][0]["name"] == "Acme Europe"
