"""The long-running server processes' heap: keep the cyclic garbage collector's pauses short."""

import gc

from django.core.signals import request_finished

# Allocations between two passes over the youngest generation (CPython's default: 700).
YOUNG_GENERATION_THRESHOLD = 50_000


def server_collector_setup(young_threshold: int = YOUNG_GENERATION_THRESHOLD) -> None:
    """Exempt the loaded application from the collector and make its passes rarer
    (a young pass every ``young_threshold`` allocations).

    Once the application is loaded, its modules, settings, models and routes (some 110,000
    objects) live as long as the process, yet every full collection would traverse them
    again while the event loop waits: in a websocket server, a pause felt by every
    connection at once. Frozen, they are skipped, and a full pass walks only what was
    allocated since.

    What is allocated since is mostly the state of open connections (a few hundred
    objects each) and the copies of each event every connection receives. With the
    default threshold a young pass runs every 700 allocations, many times per event
    fanned out, and moves the copies still in flight to the older generations, until a
    full pass over every connection's state is due, every 10 to 20 s under a stream of
    events. Passes every 50,000 allocations let those copies die young; the cost is the
    garbage waiting for the next pass (a few MB).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, *gc.get_threshold()[1:])


def collect_after_responses(young_threshold: int) -> None:
    """Run the collector's passes once a response has gone out, not in the middle of one:
    a young pass when ``young_threshold`` allocations are due.

    For a server whose process answers one request at a time (gunicorn's sync workers):
    Django closes the response (``request_finished``) after the server has written it,
    so a pass there costs the client nothing while another worker can take the next
    request. The collector's own threshold (``server_collector_setup``) is then set far
    above it, as a safety net for requests that allocate far more than a page.
    """

    def collect(**kwargs) -> None:
        young, middle, oldest = gc.get_count()
        if young < young_threshold:
            return
        _, middle_threshold, oldest_threshold = gc.get_threshold()
        if middle < middle_threshold:
            gc.collect(0)
        elif oldest < oldest_threshold:
            gc.collect(1)
        else:
            gc.collect(2)

    request_finished.connect(collect, weak=False, dispatch_uid="config.heap.collect")
