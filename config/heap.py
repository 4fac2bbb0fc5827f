"""The long-running server processes' heap: keep the cyclic garbage collector's pauses short."""

import gc


def startup_objects_freeze() -> None:
    """Exempt every object alive now from the cyclic garbage collector's future passes.

    Once the application is loaded, its modules, settings, models and routes (some 110,000
    objects) live as long as the process, yet every full collection would traverse them
    again while the event loop waits: in a websocket server, a pause felt by every
    connection at once. Frozen, they are skipped, and a full pass walks only what was
    allocated since.
    """
    gc.collect()
    gc.freeze()
