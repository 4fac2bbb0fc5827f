"""The websocket server process keeps the garbage collector's full passes short."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_asgi_application_takes_its_startup_objects_out_of_the_collectors_passes():
    # A process of its own: freezing the test runner's heap would outlive the test.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, config.asgi; print(gc.get_freeze_count(), gc.get_threshold()[0])",
        ],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )

    frozen, young_threshold = map(int, loaded.stdout.split())
    # Django, the apps and the routes: some 100,000 objects (none without the freeze).
    assert frozen > 50_000
    # Young passes far rarer than CPython's default of every 700 allocations.
    assert young_threshold >= 10_000
