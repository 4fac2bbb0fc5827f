"""The WSGI application leaves its startup objects out of the garbage collector's scans
(a full collection walking them was the p99 of the API's pages), and collects a
request's garbage once its response is out."""

import os
import subprocess
import sys

from django.conf import settings


def test_the_wsgi_application_freezes_what_it_loaded_and_collects_young_objects_less_often():
    probe = (
        "import gc, config.wsgi; "
        "print(gc.get_freeze_count() > 50_000, gc.get_threshold()[0], len(gc.get_objects(2)))"
    )
    frozen, during_request_threshold, oldest_tracked = _probe(probe)
    assert frozen == "True"
    # No young pass in the middle of a page: its garbage waits for the response to be out.
    assert int(during_request_threshold) == 200_000
    assert int(oldest_tracked) < 1_000


def test_the_young_garbage_of_a_request_is_collected_once_its_response_is_out():
    probe = (
        "import gc, config.wsgi; from django.core.signals import request_finished; "
        "small = [[] for _ in range(1_000)]; request_finished.send(sender=None); "
        "kept = gc.get_count()[0]; "
        "page = [[] for _ in range(20_000)]; before = gc.get_count()[0]; "
        "request_finished.send(sender=None); print(kept, before, gc.get_count()[0])"
    )
    kept, before, after = map(int, _probe(probe))
    # A request that allocated little leaves its objects to the next one's pass.
    assert kept >= 1_000
    assert before >= 10_000
    assert after < 1_000


def _probe(code: str) -> list[str]:
    # A process of its own: freezing the test runner's heap would outlive the test.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
