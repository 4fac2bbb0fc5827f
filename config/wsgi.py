"""WSGI entry point for the REST API under a WSGI server (gunicorn).

Python's cyclic garbage collector, left to its defaults, stopped a worker for a full
collection every few dozen API pages, walking every object loaded at start (~160,000,
120-150 ms of CPU on a loaded 2-core machine): it was the p99 of a page of contacts.
Once the application and its views are loaded, ``config.heap`` freezes them out of the
collector's passes and makes young passes rarer, so that a page's garbage dies young.

Rarer, not as rare as for websockets: a young pass walks whatever is still tracked, and
at 50,000 allocations a pass took up to 40-50 ms in the middle of a page (contact search
in-process, 300 requests: p99 46 ms, 1.4 ms of collection per request), at 10,000 at most
7-17 ms (p99 25 ms, 1.0 ms per request), at CPython's 700 a full pass every ~40 pages.

A sync worker answers one request at a time, so its passes run once a response is out
(``collect_after_responses``), never in the middle of a page: sequential pages under
gunicorn, p99 8.5-9.2 → 6.9-8.3 ms for the open inbox and 11.5-13.1 → 10.3-11.7 ms for
contact search (four runs of 400 each, alternated, full bench database).
"""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from config.heap import collect_after_responses, server_collector_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

# Allocations between two young passes in a REST worker (see above), run after a response.
YOUNG_GENERATION_THRESHOLD = 10_000
# The collector's own threshold, during a request: a safety net for very large ones.
DURING_REQUEST_THRESHOLD = 200_000

application = get_wsgi_application()

# Import every view now (the URLconf loads lazily), so that they are frozen with the rest.
get_resolver().url_patterns  # noqa: B018
server_collector_setup(young_threshold=DURING_REQUEST_THRESHOLD)
collect_after_responses(young_threshold=YOUNG_GENERATION_THRESHOLD)
