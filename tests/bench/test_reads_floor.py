"""The reads' floors in BENCHMARKS.md: the bare SQL endpoint and its row in the table."""

import json

import pytest
from django.test import RequestFactory

from bench import report, views


@pytest.fixture
def floor_reads(tmp_path, monkeypatch):
    def write(queries: dict) -> None:
        path = tmp_path / "reads.json"
        path.write_text(json.dumps({"pages": {"p": '{"results": []}'}, "queries": queries}))
        monkeypatch.setenv(views.FLOOR_PAGES_ENV, str(path))
        views._floor_reads.cache_clear()

    yield write
    views._floor_reads.cache_clear()


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_bare_sql_endpoint_returns_the_baseline_rows_as_json(floor_reads):
    floor_reads(
        {
            "q": [
                "SELECT n, now() AS at, gen_random_uuid() AS id "
                "FROM generate_series(1, %(last)s) AS n ORDER BY n",
                {"last": 51},
            ]
        }
    )
    response = views.bare_sql_page(RequestFactory().get("/bench/sql/q/"), "q")
    assert response.status_code == 200
    page = json.loads(response.content)
    assert page["next"] is None
    assert page["previous"] is None
    # 51 rows read, 50 shown, as the product's pages.
    assert [row["n"] for row in page["results"]] == list(range(1, 51))
    assert isinstance(page["results"][0]["id"], str)
    assert views.bare_page(RequestFactory().get("/bench/page/p/"), "p").content == (
        b'{"results": []}'
    )


def _read(**fields) -> dict:
    return {
        "key": "inbox_mine",
        "what": "inbox: my open queue",
        "p50_ms": 9.0,
        "p99_ms": 18.0,
        "baseline_p50_ms": 1.5,
        "baseline_p99_ms": 3.0,
        "floor_p50_ms": 1.0,
        "floor_p99_ms": 2.0,
        **fields,
    }


def test_the_floor_table_gives_the_bare_sql_endpoint_against_the_sql():
    lines = report._floor_table([_read(bare_sql_p50_ms=4.0, bare_sql_p99_ms=7.5)])
    row = next(line for line in lines if line.startswith("| inbox: my open queue"))
    # Causerie, bare page, SQL, floor + SQL vs SQL, bare SQL endpoint, its ratio, above floor.
    assert row == (
        "| inbox: my open queue | 9.00 / 18.0 | 1.00 / 2.00 | 1.50 / 3.00 | 1.67 | "
        "4.00 / 7.50 | 2.50 | 8.00 |"
    )


def test_a_run_without_the_bare_sql_endpoint_still_has_its_floor_table():
    row = report._floor_table([_read()])[-2]
    assert row.endswith("| 1.67 | - | - | 8.00 |")
