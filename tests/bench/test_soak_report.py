"""The soak's verdict and bounds in BENCHMARKS.md, and the growth check behind them."""

from bench import report
from bench.soak import judge


def _samples(rss_at_end: float) -> list[dict]:
    return [
        {
            "t": t,
            "rss_web1": 200e6 if t < 1500 else rss_at_end,
            "rss_worker1": 300e6,
            "pg_connections": 12,
            "redis_clients": 40,
        }
        for t in range(0, 1801, 5)
    ]


def test_memory_that_stays_level_passes_and_a_leak_is_named():
    growth, broken = judge(_samples(205e6), 1800, 300)
    assert broken == []
    assert growth["rss_web1"]["after_warmup"] == 200e6

    _, broken = judge(_samples(300e6), 1800, 300)
    assert len(broken) == 1
    assert broken[0].startswith("web1 grew")


def test_the_soak_section_states_load_bounds_growth_and_errors():
    growth, _ = judge(_samples(205e6), 1800, 300)
    soak = {
        "date": "2026-12-01T04:00:00Z",
        "seconds": 1800,
        "warmup_seconds": 300,
        "passed": False,
        "load": {
            "webhook_deliveries": 3400,
            "customer_messages": 3600,
            "replies": 2000,
            "read_requests": 8000,
            "websocket_clients": 36,
            "websocket_messages": 600000,
        },
        "bounds": {"rss_growth": "max(20%, 40 MB)", "connections": "no growth"},
        "growth": growth,
        "errors": ["reply API answers 5xx or failed: {503: 1}"],
    }
    text = "\n".join(report.soak_section(soak))
    assert text.startswith("## Soak")
    assert "30 minutes" in text
    assert "**failed**" in text
    assert "3,400 webhook deliveries" in text
    assert "| web1 memory (RSS, with children) | 191 MB | 196 MB |" in text
    assert "- reply API answers 5xx or failed: {503: 1}" in text


def test_failed_work_is_settled_and_only_pending_queued_or_sending_work_is_in_flight():
    from bench import traffic

    done = {
        "events_pending": 0,
        "events_failed": 3,
        "replies_queued": 0,
        "replies_sending": 0,
        "replies_failed": 2,
    }
    assert traffic.in_flight(done) == 0
    assert traffic.in_flight({**done, "events_pending": 4, "replies_sending": 1}) == 5
