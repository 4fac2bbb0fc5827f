"""The reads' floors in BENCHMARKS.md: the bare SQL endpoint and its row in the table."""

import json

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from bench import report, views
from crm.api.throttling import CredentialRateThrottle


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


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_guarded_sql_endpoint_answers_only_a_valid_credential(floor_reads, ws):
    floor_reads({"q": ["SELECT n FROM generate_series(1, 51) AS n ORDER BY n", {}]})
    factory = RequestFactory()

    def get(**headers):
        return views.guarded_sql_page(factory.get("/bench/guarded-sql/q/", **headers), "q")

    missing = get()
    assert missing.status_code == 401
    assert json.loads(missing.content)["error"]["code"] == "not_authenticated"
    wrong = get(HTTP_AUTHORIZATION="Bearer cau_not-a-real-token")
    assert wrong.status_code == 401
    assert json.loads(wrong.content)["error"]["code"] == "authentication_failed"
    answered = get(HTTP_AUTHORIZATION=f"Bearer {ws.token}")
    assert answered.status_code == 200
    assert len(json.loads(answered.content)["results"]) == 50


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_guarded_sql_endpoint_counts_against_the_credentials_rate_limit(
    floor_reads, ws, monkeypatch
):
    cache.clear()
    monkeypatch.setattr(CredentialRateThrottle, "THROTTLE_RATES", {"credential": "2/min"})
    floor_reads({"q": ["SELECT 1 AS n", {}]})
    request = RequestFactory().get("/bench/guarded-sql/q/", HTTP_AUTHORIZATION=f"Bearer {ws.token}")
    statuses = [views.guarded_sql_page(request, "q").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_the_floor_table_gives_the_bare_sql_endpoints_against_the_sql():
    lines = report._floor_table(
        [
            _read(
                bare_sql_p50_ms=4.0,
                bare_sql_p99_ms=7.5,
                guarded_sql_p50_ms=5.0,
                guarded_sql_p99_ms=9.0,
            )
        ]
    )
    row = next(line for line in lines if line.startswith("| inbox: my open queue"))
    # Causerie, bare page, SQL, floor + SQL vs SQL, bare SQL endpoint, its ratio, the same
    # with authentication and rate limit, its ratio, above floor.
    assert row == (
        "| inbox: my open queue | 9.00 / 18.0 | 1.00 / 2.00 | 1.50 / 3.00 | 1.67 | "
        "4.00 / 7.50 | 2.50 | 5.00 / 9.00 | 3.00 | 8.00 |"
    )


def test_a_run_without_the_bare_sql_endpoints_still_has_its_floor_table():
    row = report._floor_table([_read()])[-2]
    assert row.endswith("| 1.67 | - | - | - | - | 8.00 |")


def test_a_missed_read_says_whether_the_guarded_endpoint_missed_it_too_in_this_run():
    bounded = report._read_bound(_read(guarded_sql_p50_ms=5.0, guarded_sql_p99_ms=9.0))
    assert bounded.startswith("; the bound in this run")
    assert "alone is at 3.00 times the SQL (p99)" in bounded

    unbounded = report._read_bound(_read(guarded_sql_p50_ms=3.0, guarded_sql_p99_ms=5.4))
    assert "**not explained by the bound in this run**" in unbounded
    assert "at 1.80 times the SQL (p99), and Causerie 12.6 ms (p99) above it" in unbounded

    # A run without the guarded endpoint states nothing about it.
    assert report._read_bound(_read()) == ""
