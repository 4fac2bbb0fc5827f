import io
import json

import pytest
from django.core.management import CommandError, call_command

from crm.models import Membership
from tests.conftest import client_with


def test_create_workspace_prints_one_json_object_with_a_working_key(db):
    out = io.StringIO()

    call_command(
        "create_workspace",
        "northwind",
        "--name",
        "Northwind",
        "--owner-email",
        "ceo@nw.test",
        stdout=out,
    )

    printed = json.loads(out.getvalue())
    assert set(printed) == {"workspace", "owner", "api_key"}
    assert printed["workspace"] == "northwind"
    assert printed["owner"] == "ceo@nw.test"
    assert Membership.objects.get(workspace__slug="northwind").role == "owner"
    me = client_with(printed["api_key"]).get("/api/v1/me").json()
    assert sorted(me["workspaces"][0]["scopes"]) == sorted(
        [
            "admin",
            "contacts:read",
            "contacts:write",
            "conversations:read",
            "conversations:write",
            "messages:send",
            "webhooks:manage",
        ]
    )


def test_create_workspace_refuses_a_taken_or_invalid_slug(db):
    call_command(
        "create_workspace",
        "taken",
        "--name",
        "T",
        "--owner-email",
        "a@t.test",
        stdout=io.StringIO(),
    )

    with pytest.raises(CommandError, match="already exists"):
        call_command("create_workspace", "taken", "--name", "T", "--owner-email", "b@t.test")
    with pytest.raises(CommandError, match="slug"):
        call_command("create_workspace", "Not A Slug", "--name", "T", "--owner-email", "b@t.test")


def test_demo_workspace_reissues_its_key_and_revokes_the_old_one(db):
    first, second = io.StringIO(), io.StringIO()
    call_command("demo_workspace", stdout=first)
    call_command("demo_workspace", stdout=second)

    def key(out):
        return next(
            line.split(":", 1)[1].strip()
            for line in out.getvalue().splitlines()
            if "API key" in line
        )

    assert client_with(key(first)).get("/api/v1/me").status_code == 401
    assert client_with(key(second)).get("/api/v1/me").status_code == 200
