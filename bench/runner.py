"""``python -m bench``: build the bench database, run every benchmark, write the report.

Needs PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``). The database named by
``--database`` (default ``causerie_bench``) on the same server is dropped, created,
migrated and filled; Redis is used at the database number ``REDIS_URL`` names, which is
flushed (give the benchmarks a Redis database of their own).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent

# Per size: requests per read case (and at most so many seconds per case and side), seconds
# per webhook run and per topology run, pending ingest events and the seconds given to
# process them, profiled events.
PLANS = {
    "quick": {
        "reads": 30,
        "read_seconds": 6,
        "webhook_seconds": 2.5,
        "topology_seconds": 2.0,
        "ingest": 2000,
        "budget": 8,
        "profile": 60,
        "fanout_clients": 100,
        "fanout_rounds": 10,
        "outbound": (40, 20, 30),  # replies, limit per second, seconds at most
    },
    "full": {
        "reads": 200,
        "read_seconds": 20,
        "webhook_seconds": 15.0,
        "topology_seconds": 8.0,
        "ingest": 10000,
        "budget": 90,
        "profile": 200,
        "fanout_clients": 500,
        "fanout_rounds": 30,
        "outbound": (300, 50, 60),
    },
    "tiny": {
        "reads": 5,
        "read_seconds": 2,
        "webhook_seconds": 1.0,
        "topology_seconds": 1.0,
        "ingest": 50,
        "budget": 10,
        "profile": 20,
        "fanout_clients": 20,
        "fanout_rounds": 3,
        "outbound": (20, 10, 30),
    },
}


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_recreate(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_with_database(admin_url, "postgres"), autocommit=True) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _pg_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(PLANS), default="full")
    parser.add_argument("--database", default="causerie_bench")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: reads, topology, webhook, ingest, fanout, outbound (default all)",
    )
    args = parser.parse_args(argv)

    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://", "pgsql://")):
        print(
            "bench: the benchmarks run on PostgreSQL only (not on the SQLite default). "
            "Set DATABASE_URL=postgres://user@host:5432/anything and REDIS_URL=redis://host:6379/9.",
            file=sys.stderr,
        )
        return 2
    if not redis_url.startswith(("redis://", "rediss://")):
        print("bench: set REDIS_URL (e.g. redis://127.0.0.1:6379/9).", file=sys.stderr)
        return 2
    if not args.database.startswith("causerie_bench"):
        print("bench: the bench database's name must start with causerie_bench.", file=sys.stderr)
        return 2
    everything = {"reads", "topology", "webhook", "ingest", "fanout", "outbound"}
    only = {x for x in args.only.split(",") if x} or everything
    plan = PLANS[args.size]
    started = time.monotonic()
    bench_url = _with_database(database_url, args.database)
    print(f"bench: {args.size} size, database {args.database}")
    database_recreate(database_url, args.database)

    # Everything below (and the servers, which inherit the environment) uses the bench DB.
    os.environ["DATABASE_URL"] = bench_url
    os.environ["CELERY_BROKER_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("DATABASE_POOL", "true")
    os.environ.setdefault("CAUSERIE_PUBLIC_URL", "http://127.0.0.1:8000")
    sys.path.insert(0, str(ROOT))
    import django

    # The runner's own connection is a plain persistent one (the pool is for the servers).
    pool = os.environ["DATABASE_POOL"]
    os.environ["DATABASE_POOL"] = "false"
    django.setup()
    os.environ["DATABASE_POOL"] = pool

    import redis
    from django.core.management import call_command
    from django.db import connection

    from . import benchmarks, dataset, fanout, outbound, report
    from .views import BARE_TABLE_SQL

    redis.Redis.from_url(redis_url).flushdb()
    t0 = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute(BARE_TABLE_SQL)
    print(f"bench: migrated in {time.monotonic() - t0:.1f} s")
    built = dataset.generate(args.size, drop_indexes=args.size != "tiny", log=print)

    results = []
    if "reads" in only:
        print("bench: reads (gunicorn, 2 sync workers, sequential requests)")
        results += benchmarks.bench_reads(
            built, db_url=bench_url, n=plan["reads"], max_seconds=plan["read_seconds"]
        )
    if "topology" in only:
        print("bench: serving topology (the open inbox under each server, with and without pool)")
        results += benchmarks.bench_topology(
            built, seconds=plan["topology_seconds"], without_pool=args.size != "quick"
        )
    if "webhook" in only:
        print("bench: webhook accept")
        results += benchmarks.bench_webhooks(
            built, seconds=plan["webhook_seconds"], without_pool=args.size != "quick"
        )
    if "ingest" in only:
        print("bench: ingest processing")
        results.append(
            benchmarks.bench_ingest(
                built,
                db_url=bench_url,
                events=plan["ingest"],
                budget_seconds=plan["budget"],
                profile_events=plan["profile"],
            )
        )
    if "fanout" in only:
        print(f"bench: websocket fan-out to {plan['fanout_clients']} agents")
        results.append(
            fanout.bench_fanout(clients=plan["fanout_clients"], rounds=plan["fanout_rounds"])
        )
    if "outbound" in only:
        replies, limit, budget = plan["outbound"]
        print(f"bench: outbound sends, {replies} replies at {limit}/s")
        results.append(outbound.bench_outbound(replies=replies, limit=limit, budget=budget))
    redis.Redis.from_url(redis_url).flushdb()
    connection.close()

    run = {
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "size": args.size,
        "dataset": {**built.counts, "build_seconds": round(built.seconds, 1)},
        "machine": {**machine(), "postgresql": _pg_version(bench_url)},
        "seconds": round(time.monotonic() - started, 1),
        "results": [r.as_dict() for r in results],
    }
    Path(args.json).write_text(json.dumps(run, indent=2, ensure_ascii=False) + "\n")
    Path(args.output).write_text(report.markdown(run))
    print(f"bench: wrote {args.output} and {args.json} in {run['seconds']:.0f} s")
    return 0
