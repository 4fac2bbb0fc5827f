from datetime import timedelta

from django.utils import timezone

from crm.models import ApiKey, PersonalToken
from tests.conftest import client_with


def test_api_key_authenticates_and_records_last_use(ws):
    assert ws.api_key.last_used_at is None

    response = client_with(ws.token).get(ws.url("members/"))

    assert response.status_code == 200
    ws.api_key.refresh_from_db()
    assert ws.api_key.last_used_at is not None


def test_missing_credential_is_401_with_challenge(ws, anon):
    response = anon.get(ws.url("members/"))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "not_authenticated"


def test_wrong_secret_with_a_real_prefix_is_refused(ws):
    forged = ws.token[:-4] + ("AAAA" if not ws.token.endswith("AAAA") else "BBBB")

    response = client_with(forged).get(ws.url("members/"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_malformed_token_is_refused(ws):
    response = client_with("not-a-token").get(ws.url("members/"))

    assert response.status_code == 401


def test_tokens_are_stored_hashed_never_in_clear(ws):
    key = ApiKey.objects.get(pk=ws.api_key.pk)

    assert ws.token not in (key.key_hash, key.prefix, key.name)
    assert ws.token.startswith(key.prefix + "_")
    assert len(key.key_hash) == 64


def test_revoked_key_stops_working_at_once(ws, client):
    created = client.post(ws.url("api-keys/"), {"name": "ci", "scopes": ["contacts:read"]})
    token, key_id = created.json()["key"], created.json()["id"]
    assert client_with(token).get(ws.url("events/")).status_code == 200

    assert client.delete(ws.url(f"api-keys/{key_id}/")).status_code == 204

    refused = client_with(token).get(ws.url("events/"))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


def test_expired_key_is_refused(ws):
    ApiKey.objects.filter(pk=ws.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client_with(ws.token).get(ws.url("members/"))

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_personal_token_acts_as_the_member_with_its_role(ws):
    _, token = ws.add_member("viewer")
    client = client_with(token)

    assert client.get(ws.url("members/")).status_code == 200
    denied = client.post(ws.url("teams/"), {"name": "Support"})
    assert denied.status_code == 403
    assert denied.json()["error"]["details"]["required_scope"] == "admin"


def test_sign_in_gives_a_personal_token_and_wrong_password_does_not(ws, anon):
    membership, _ = ws.add_member("agent", email="ana@acme.test")
    membership.user.set_password("a-long-passphrase-42")
    membership.user.save()

    wrong = anon.post("/api/v1/auth/token", {"email": "ana@acme.test", "password": "nope"})
    right = anon.post(
        "/api/v1/auth/token", {"email": "ana@acme.test", "password": "a-long-passphrase-42"}
    )

    assert wrong.status_code == 401
    assert right.status_code == 201
    token = right.json()["token"]
    me = client_with(token).get("/api/v1/me").json()
    assert me["kind"] == "member"
    assert me["workspaces"] == [
        {
            "slug": "acme",
            "name": "Acme",
            "role": "agent",
            "scopes": sorted(
                [
                    "contacts:read",
                    "contacts:write",
                    "conversations:read",
                    "conversations:write",
                    "messages:send",
                ]
            ),
        }
    ]


def test_member_manages_own_personal_tokens(ws):
    membership, token = ws.add_member("agent")
    client = client_with(token)

    created = client.post("/api/v1/me/tokens/", {"name": "laptop"})
    assert created.status_code == 201
    second = created.json()["token"]
    listed = client.get("/api/v1/me/tokens/").json()["results"]
    assert {t["name"] for t in listed} == {"test", "laptop"}
    assert all("token" not in t for t in listed)

    assert client.delete(f"/api/v1/me/tokens/{created.json()['id']}/").status_code == 204
    assert client_with(second).get("/api/v1/me").status_code == 401
    assert PersonalToken.objects.filter(user=membership.user, revoked_at__isnull=True).count() == 1


def test_me_for_an_api_key_names_the_key_and_its_scopes(ws, client):
    me = client.get("/api/v1/me").json()

    assert me["kind"] == "api_key"
    assert me["user"] is None
    assert me["api_key"]["prefix"] == ws.api_key.prefix
    assert me["workspaces"][0]["slug"] == "acme"
    assert "admin" in me["workspaces"][0]["scopes"]
