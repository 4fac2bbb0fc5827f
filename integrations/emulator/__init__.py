"""A local stand-in for every platform Causerie speaks to, over real HTTP (and SMTP).

It serves the platforms' send and polling APIs at their documented paths, checks their
auth, records every request, injects faults on demand, and delivers signed webhooks to a
target URL. Drive it with ``integrations.emulator.client.EmulatorClient``; build payloads
with ``integrations.emulator.scenarios``. Stdlib plus httpx only; no Django.

    server, base_url = start_in_thread()      # tests
    python -m integrations.emulator --port 8025   # by hand
"""

from __future__ import annotations

from .server import EmulatorServer, run, start_in_thread

__all__ = ["EmulatorServer", "run", "start_in_thread"]
