"""py-spy's samples of a live process, summarised for BENCHMARKS.md."""

import subprocess
import sys
import time

from bench import report, sampling

RAW = "\n".join(
    [
        'process 1:"gunicorn";handle (gunicorn/workers/sync.py:135);'
        f"get ({sampling.ROOT}/contacts/api/views.py:246);"
        f"contact_list ({sampling.ROOT}/contacts/selectors.py:40);"
        "filter (django/db/models/query.py:1476) 30",
        'process 1:"gunicorn";handle (gunicorn/workers/sync.py:135);'
        f"get ({sampling.ROOT}/contacts/api/views.py:246);"
        "dumps (/usr/lib/python3.11/json/__init__.py:231) 50",
        'process 1:"gunicorn";accept (gunicorn/workers/sync.py:35) 20',
    ]
)


def test_the_summary_gives_own_and_inclusive_shares_of_the_samples():
    found = sampling.summarize(RAW)

    assert found.samples == 100
    assert found.own == [
        ("dumps (/usr/lib/python3.11/json/__init__.py)", 0.5),
        ("filter (django/db/models/query.py)", 0.3),
        ("accept (gunicorn/workers/sync.py)", 0.2),
    ]
    # Only the project's functions, with everything they called.
    assert found.inclusive == [
        ("get (contacts/api/views.py)", 0.8),
        ("contact_list (contacts/selectors.py)", 0.3),
    ]


def test_a_read_that_missed_its_goal_gets_its_samples_in_the_report():
    result = {
        "what": "contact search",
        "extra": {"sampled": sampling.summarize(RAW).as_dict(), "sampled_requests": 200},
    }
    lines = report._sampled_section([result, {"what": "met", "extra": {}}])

    assert "### contact search" in lines
    assert "100 samples over 200 requests." in lines
    assert "| 50.0% | `dumps (/usr/lib/python3.11/json/__init__.py)` | | 80.0% | " in "\n".join(
        lines
    )
    assert not any("### met" in line for line in lines)
    assert report._sampled_section([{"what": "met", "extra": {}}]) == []


def test_py_spy_samples_a_running_process_and_its_children():
    busy = "def spinning():\n    while True:\n        sum(range(1000))\nspinning()\n"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {busy!r}]);"
            " time.sleep(60)",
        ],
    )
    try:
        time.sleep(1.0)
        with sampling.sampling(parent.pid) as found:
            time.sleep(1.5)
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)], check=False)
        parent.kill()
        parent.wait()

    sampled = found["sampled"]
    assert sampled.samples > 100
    assert sampled.own[0][0].startswith("spinning (")
    assert sampled.own[0][1] > 0.9


def test_the_ingest_section_gives_the_sampled_drain():
    from bench.benchmarks import Result

    ingest = Result(
        key="ingest",
        what="ingest processing",
        unit="events/s",
        causerie=1700.0,
        baseline=140000.0,
        ratio=0.012,
        goal="≥ 5,000 events/s",
        goal_met=False,
        queries=0.145,
        extra={
            "sql_per_event": [("INSERT INTO contacts_contact", 0.01)],
            "profile_cumulative": "cumulative",
            "profile_tottime": "tottime",
            "profile_events": 2000,
            "sampled": sampling.summarize(RAW).as_dict(),
            "sampled_events": 2000,
        },
    ).as_dict()
    run = {
        "date": "2026-12-01T15:00:00Z",
        "size": "full",
        "seconds": 300,
        "machine": {"cores": 2, "cpu": "cpu", "memory": "1 GiB", "python": "3.11", "system": "x"},
        "dataset": {"Contact": 1, "build_seconds": 1.0},
        "results": [ingest],
    }

    text = report.markdown(run)

    assert "py-spy (`--gil`) of the same drain over 2000 events" in text
    assert "| 50.0% | `dumps (/usr/lib/python3.11/json/__init__.py)` | | 80.0% |" in text
    # Not among the reads: the ingest is no read.
    assert "## Reads that missed their goal" not in text
