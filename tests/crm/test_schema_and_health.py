import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_schema_generates_without_warnings(tmp_path):
    target = tmp_path / "openapi.yaml"

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--api-version", "v1", "--file", str(target)
    )

    schema = yaml.safe_load(target.read_text())
    paths = schema["paths"]
    assert "/api/v1/workspaces/{workspace}/members/" in paths
    assert "/api/v1/workspaces/{workspace}/events/" in paths
    create_key = paths["/api/v1/workspaces/{workspace}/api-keys/"]["post"]
    assert {"bearerAuth": ["admin"]} in create_key["security"]
    assert "Required scope: `admin`" in create_key["description"]
    assert create_key["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_schema_and_docs_are_served(anon):
    schema = anon.get("/api/v1/schema/")
    docs = anon.get("/api/v1/docs/")

    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    assert docs.status_code == 200
    # The docs page loads its assets from Causerie, never from a CDN.
    assert b"cdn." not in docs.content
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs.content


def test_docs_assets_are_served_by_the_web_process(db):
    from django.test import Client

    response = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")

    assert response.status_code == 200


def test_health_checks_each_dependency_for_real(anon, db):
    response = anon.get("/api/v1/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "channel_layer", "broker"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


@override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_health_is_degraded_when_the_broker_is_unreachable(anon, db):
    response = anon.get("/api/v1/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"


FERNET_KEY = "x7YVuAqGrnOOpwWRmXDtFqS2JsKpGF4Mf7ZJz7cH9Jg="


def _django_setup(settings_module: str, **env):
    removed = ("SECRET_KEY", "DEBUG", "CAUSERIE_ENCRYPTION_KEYS")
    environment = {k: v for k, v in os.environ.items() if k not in removed}
    environment.update(env, DJANGO_SETTINGS_MODULE=settings_module)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        ({"CAUSERIE_ENCRYPTION_KEYS": FERNET_KEY}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "x" * 50}, "CAUSERIE_ENCRYPTION_KEYS must be set"),
        (
            {"SECRET_KEY": "x" * 50, "CAUSERIE_ENCRYPTION_KEYS": FERNET_KEY, "DEBUG": "true"},
            "DEBUG must be off",
        ),
    ],
)
def test_production_refuses_to_start_unsafely(env, refusal):
    result = _django_setup("config.settings.production", **env)

    assert result.returncode != 0
    assert refusal in result.stderr


def test_production_starts_with_a_secret_key_and_debug_off():
    result = _django_setup(
        "config.settings.production", SECRET_KEY="s" * 50, CAUSERIE_ENCRYPTION_KEYS=FERNET_KEY
    )

    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_embedded_default_needs_no_environment():
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY")
    }
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        "import json; print(json.dumps([s.DATABASES['default']['ENGINE'],"
        " s.CHANNEL_LAYERS['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )

    assert json.loads(result.stdout) == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        True,
    ]
