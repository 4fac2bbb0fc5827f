"""The CPU a drain cost PostgreSQL, read from /proc, and the report's account of it."""

import pytest
from django.db import connection

from bench import report
from bench.cpu import cpu_spent, postmaster_pid, process_cpu_seconds, processes_gone


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backend_that_worked_and_exited_is_counted_in_the_servers_cpu():
    import psycopg

    settings = connection.settings_dict
    if postmaster_pid(connection) is None:
        pytest.skip("PostgreSQL does not run on this machine")
    with cpu_spent(connection) as spent:
        other = psycopg.connect(
            host=settings["HOST"],
            port=settings["PORT"],
            user=settings["USER"],
            dbname=settings["NAME"],
        )
        backend = other.execute("SELECT pg_backend_pid()").fetchone()[0]
        other.execute("SELECT count(*) FROM generate_series(1, 4000000) AS n WHERE n % 7 = 0")
        worked = process_cpu_seconds(backend)
        other.close()
        processes_gone([backend])

    assert worked > 0.1
    # The backend's time is still counted once its process is gone (reaped into the
    # postmaster's children's time), within a clock tick or two.
    assert spent.server >= worked - 0.02
    assert 0 < spent.busy <= spent.available


def _ingest(two_processes: float, server_ms: float, workers_ms: float) -> dict:
    cores = 2
    return {
        "key": "ingest",
        "goal_met": False,
        "ratio": 0.04,
        "extra": {
            "goal_events_per_second": 5000,
            "cpu": {
                "cores": cores,
                "busy_share": 0.97,
                "server_ms": server_ms,
                "workers_ms": workers_ms,
                "server_ceiling": cores * 1000 / server_ms,
                "ceiling": cores * 1000 / (server_ms + workers_ms),
            },
        },
    }


def test_an_ingest_below_its_goal_is_explained_only_when_the_database_alone_cannot_reach_it():
    slow = report._ingest_bound(_ingest(1567, server_ms=0.62, workers_ms=0.55))
    assert slow.startswith("; the bound in this run:")
    assert "at most 3,226 events/s to the database's work alone" in slow

    room = report._ingest_bound(_ingest(4200, server_ms=0.19, workers_ms=0.25))
    assert "**not explained by the bound in this run**" in room
    assert "would allow 10,526 events/s" in room


def test_an_ingest_below_its_goal_is_explained_when_hand_written_sql_misses_it_too():
    result = _ingest(2769, server_ms=0.315, workers_ms=0.356)
    result["causerie"] = 2769
    bare = {"events": 10000, "cpu": {**result["extra"]["cpu"], "workers_ms": 0.19}}
    result["extra"]["bare"] = {**bare, "events_per_second": 3500}
    slow = report._ingest_bound(result)
    assert slow.startswith("; the bound in this run: hand-written SQL writing the same rows")
    assert "reached 3,500 events/s, and Causerie 0.79 of it" in slow
    assert "reached **3,500 events/s**" in report._bare_ingest_line(result)[0]

    # The database's part alone leaves room and so does the bare ingest: not explained.
    result["extra"]["bare"]["events_per_second"] = 5600
    room = report._ingest_bound(result)
    assert "**not explained by the bound in this run**" in room
    assert room.endswith("hand-written SQL writing the same rows reached 5,600 events/s")


def test_sends_below_their_goal_are_explained_when_the_workers_cpu_caps_its_one_process():
    def outbound(worker_ms: float) -> dict:
        return {
            "key": "outbound",
            "baseline": 49.5,
            "extra": {
                "worker_cpu_ms_per_send": worker_ms,
                "worker_ceiling": 1000 / worker_ms,
                "goal_ratio": 0.8,
            },
        }

    capped = report._outbound_bound(outbound(46.4))
    assert capped.startswith("; the bound in this run:")
    assert "can send at most 21.6 replies/s" in capped

    assert "**not explained" in report._outbound_bound(outbound(12.0))
