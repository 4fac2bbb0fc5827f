"""``manage.py check --deploy`` with the production settings: no warning at all."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def production(args: list[str], **overrides: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_", "DEBUG"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="k" * 20 + "-a-long-random-production-signing-key-0123456789",
        CAUSERIE_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="crm.example.com",
        **overrides,
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def deploy_check(**overrides: str) -> subprocess.CompletedProcess:
    return production(["check", "--deploy", "--fail-level", "DEBUG"], **overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"SECURE_HSTS_PRELOAD": "1", "SECURE_HSTS_SECONDS": str(365 * 24 * 3600)},
    ],
    ids=["defaults", "preload"],
)
def test_check_deploy_is_clean_with_production_settings(overrides):
    result = deploy_check(**overrides)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


def test_check_deploy_still_reports_a_real_weakness():
    result = deploy_check(SECURE_HSTS_SECONDS="0")

    assert result.returncode != 0
    assert "security.W004" in result.stdout + result.stderr


def test_webhook_replay_protection_is_on_in_production():
    read = [
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.CAUSERIE_WEBHOOK_REPLAY_WINDOW)",
    ]

    assert production(read).stdout.splitlines()[-1] == "7 days, 0:00:00"
    assert production(read, CAUSERIE_WEBHOOK_REPLAY_DAYS="0").stdout.splitlines()[-1] == "None"
