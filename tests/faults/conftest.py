"""The fault-injection suite runs real processes: its own PostgreSQL and Redis servers,
the emulator, web processes, Celery workers and beat (``bench.cluster``).

It runs under CI (``CI=true``) and with ``make faults`` (``CAUSERIE_FAULTS=long``); a
developer's plain ``make test`` skips it. Under CI a machine without PostgreSQL's server
binaries or redis-server fails the suite instead of skipping it.
"""

import os
import tempfile
from pathlib import Path

import pytest

from bench.cluster import missing_tools

PROFILES = {
    # CI: five platforms, a little over a thousand deliveries in all (with duplicates),
    # replies throughout; fits in about three minutes on a loaded two-core machine.
    "ci": {"customers": 8, "messages": 6, "rate": 15.0, "settle": 150.0},
    # make faults: several thousand deliveries.
    "long": {"customers": 24, "messages": 10, "rate": 25.0, "settle": 400.0},
}


# What each fault showed, printed at the end of the run.
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("fault injection")
        for line in FIGURES:
            terminalreporter.write_line(line)


def _profile() -> str | None:
    chosen = os.environ.get("CAUSERIE_FAULTS", "").strip().lower()
    if chosen in PROFILES:
        return chosen
    if os.environ.get("CI", "").lower() == "true":
        return "ci"
    return None


def pytest_collection_modifyitems(config, items):
    profile = _profile()
    for item in items:
        if "tests/faults/" not in str(item.path).replace(os.sep, "/"):
            continue
        item.add_marker(pytest.mark.faults)
        if profile is None:
            item.add_marker(
                pytest.mark.skip(reason="fault injection runs with CI=true or make faults")
            )


@pytest.fixture(scope="session")
def profile() -> dict:
    name = _profile() or "ci"
    missing = missing_tools()
    if missing:
        # Under CI a missing server is a broken machine, not a reason to skip.
        pytest.fail(f"fault injection needs {', '.join(missing)}")
    return {"name": name, **PROFILES[name]}


@pytest.fixture(scope="session")
def cluster_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="causerie-faults-"))
