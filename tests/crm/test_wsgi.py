"""The WSGI application leaves its startup objects out of the garbage collector's scans
(a full collection walking them was the p99 of the API's pages)."""

import os
import subprocess
import sys

from django.conf import settings


def test_the_wsgi_application_freezes_what_it_loaded_and_collects_young_objects_less_often():
    probe = (
        "import gc, config.wsgi; "
        "print(gc.get_freeze_count() > 50_000, gc.get_threshold()[0], len(gc.get_objects(2)))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    frozen, young_threshold, oldest_tracked = out
    assert frozen == "True"
    assert int(young_threshold) == 10_000
    assert int(oldest_tracked) < 1_000
