"""The benchmarks: each measures Causerie and its baseline in the same run.

- reads (inbox with filters, conversation messages, contact timeline, contact search):
  sequential requests through a real gunicorn process over HTTP, vs one hand-written
  keyset SQL query returning the same page over a plain psycopg connection; the SQL query
  count per request is read in-process with Django's test client; two floors under the
  same server: the product's page from a bare view without the database, and the
  baseline SQL run by a bare Django view returning its rows as JSON; a read that misses
  its goal is then sampled with py-spy in the server's workers (``bench.sampling``);
- webhook accept: signed Messenger webhooks through the real endpoint vs a bare Django
  view doing one INSERT, both under the same server (gunicorn sync workers, uvicorn);
- ingest processing: pending InboundEvent rows through ``inbound_events_drain`` vs COPY
  of the same rows into a bare table; profiled with cProfile.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import os
import pstats
import re
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field

import httpx
import psycopg

from . import load
from .bare_ingest import account_of
from .cpu import CpuSpent, backend_pid, cpu_spent, processes_gone
from .sampling import sampling
from .servers import serving, serving_process
from .views import BARE_TABLE, FLOOR_PAGES_ENV


@dataclass
class Result:
    key: str
    what: str
    unit: str
    causerie: float
    baseline: float
    ratio: float
    goal: str
    goal_met: bool | None
    p50_ms: float | None = None
    p99_ms: float | None = None
    baseline_p50_ms: float | None = None
    baseline_p99_ms: float | None = None
    queries: float | None = None
    # Reads: the same page served by a bare Django view under the same server (no DB).
    floor_p50_ms: float | None = None
    floor_p99_ms: float | None = None
    # Reads: the baseline SQL through a bare Django view, its rows as JSON (no DRF).
    bare_sql_p50_ms: float | None = None
    bare_sql_p99_ms: float | None = None
    guarded_sql_p50_ms: float | None = None
    guarded_sql_p99_ms: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def p99_against(cls, key: str, what: str, causerie, baseline, **fields) -> Result:
        """A latency result: p99 of two ``load.Timing``s, goal p99 ratio ≤ 2."""
        ratio = causerie.p99_ms / baseline.p99_ms if baseline.p99_ms else float("nan")
        return cls(
            key=key,
            what=what,
            unit="ms (p99)",
            causerie=causerie.p99_ms,
            baseline=baseline.p99_ms,
            ratio=ratio,
            goal="p99 ratio ≤ 2",
            goal_met=ratio <= 2,
            p50_ms=causerie.p50_ms,
            p99_ms=causerie.p99_ms,
            baseline_p50_ms=baseline.p50_ms,
            baseline_p99_ms=baseline.p99_ms,
            **fields,
        )


# --- Reads ----------------------------------------------------------------------------------

CONV_COLUMNS = """
  c.*, ct.name AS contact_name, ct.email AS contact_email, ct.phone AS contact_phone,
  ARRAY(SELECT l.label_id FROM conversations_conversation_labels l
        WHERE l.conversation_id = c.id) AS label_ids
"""
CONV_FROM = """
FROM conversations_conversation c JOIN contacts_contact ct ON ct.id = c.contact_id
WHERE c.workspace_id = %(ws)s
"""
WAITING = "ORDER BY c.waiting_since ASC NULLS LAST, c.id ASC LIMIT 51"
RECENT = "ORDER BY c.last_message_at DESC, c.id DESC LIMIT 51"
TEXT_MATCH = """
AND EXISTS (SELECT 1 FROM conversations_message m
  WHERE m.conversation_id = c.id AND m.deleted_at IS NULL
  AND (to_tsvector('english'::regconfig, causerie_unaccent(m.text))
       || to_tsvector('french'::regconfig, causerie_unaccent(m.text)))
   @@ (plainto_tsquery('english'::regconfig, causerie_unaccent(%(q)s))
       || plainto_tsquery('french'::regconfig, causerie_unaccent(%(q)s))))
"""


@dataclass
class ReadCase:
    key: str
    what: str
    path: str
    sql: str
    params: dict


def read_cases(built) -> list[ReadCase]:
    ws = built.workspace.pk
    slug = built.workspace.slug
    base = f"/api/v1/workspaces/{slug}/"
    me = built.agent.pk
    contact = built.busiest_contact_id
    conversation = built.longest_conversation_id
    q = "remboursement"
    name_term = built.search_name
    from contacts.normalize import fold
    from conversations.models import Conversation

    timeline_conversations = list(
        Conversation.objects.filter(workspace_id=ws, contact_id=contact).values_list(
            "pk", flat=True
        )
    )

    return [
        ReadCase(
            "inbox_open",
            "inbox: open queue, waiting longest first (`status=open`)",
            base + "conversations/?status=open",
            f"SELECT {CONV_COLUMNS} {CONV_FROM} AND c.status = 'open' {WAITING}",
            {"ws": ws},
        ),
        ReadCase(
            "inbox_mine",
            "inbox: my open queue (`status=open&assignee=me`)",
            base + "conversations/?status=open&assignee=me",
            f"SELECT {CONV_COLUMNS} {CONV_FROM} AND c.status = 'open' "
            f"AND c.assignee_id = %(me)s {WAITING}",
            {"ws": ws, "me": me},
        ),
        ReadCase(
            "inbox_platform",
            "inbox: one platform, recent first (`platform=instagram`)",
            base + "conversations/?platform=instagram",
            f"SELECT {CONV_COLUMNS} {CONV_FROM} AND c.platform = 'instagram' {RECENT}",
            {"ws": ws},
        ),
        ReadCase(
            "inbox_search",
            f"inbox: full-text search (`q={q}`)",
            base + f"conversations/?q={q}",
            f"SELECT {CONV_COLUMNS} {CONV_FROM} {TEXT_MATCH} {RECENT}",
            {"ws": ws, "q": q},
        ),
        ReadCase(
            "conversation_messages",
            "conversation messages, longest thread, oldest first",
            base + f"conversations/{conversation}/messages/",
            """
            SELECT m.*,
              (SELECT coalesce(json_agg(r.* ORDER BY r.created_at, r.id), '[]')
                 FROM conversations_reaction r WHERE r.message_id = m.id) AS reactions,
              (SELECT coalesce(json_agg(e.* ORDER BY e.edited_at, e.id), '[]')
                 FROM conversations_messageedit e WHERE e.message_id = m.id) AS edits
            FROM conversations_message m
            WHERE m.workspace_id = %(ws)s AND m.conversation_id = %(conv)s
            ORDER BY m.created_at ASC, m.id ASC LIMIT 51
            """,
            {"ws": ws, "conv": conversation},
        ),
        ReadCase(
            "contact_timeline",
            "contact timeline, busiest contact, newest first",
            base + f"contacts/{contact}/timeline/",
            # The best plan by hand (the contact's conversations looked up beforehand,
            # untimed): each conversation's newest page from its (conversation,
            # created_at, id) index, then the newest of those.
            "SELECT * FROM ("
            + " UNION ALL ".join(
                "(SELECT m.*, c.platform, c.kind, c.brand_account_id AS conversation_account "
                "FROM conversations_message m "
                "JOIN conversations_conversation c ON c.id = m.conversation_id "
                f"WHERE m.conversation_id = %(c{n})s "
                "ORDER BY m.created_at DESC, m.id DESC LIMIT 51)"
                for n in range(len(timeline_conversations))
            )
            + ") page ORDER BY created_at DESC, id DESC LIMIT 51",
            {f"c{n}": pk for n, pk in enumerate(timeline_conversations)},
        ),
        ReadCase(
            "contact_search",
            f"contact search (`contacts/?q={name_term}`)",
            base + f"contacts/?q={name_term}",
            """
            SELECT ct.*,
              (SELECT coalesce(json_agg(i.*), '[]') FROM contacts_identity i
               WHERE i.contact_id = ct.id) AS identities
            FROM contacts_contact ct
            WHERE ct.workspace_id = %(ws)s AND ct.merged_into_id IS NULL
              AND ct.erased_at IS NULL AND ct.search_text LIKE %(like)s
            ORDER BY ct.created_at DESC, ct.id DESC LIMIT 51
            """,
            {"ws": ws, "like": f"%{fold(name_term)}%"},
        ),
    ]


def query_count(path: str, token: str) -> tuple[int, int, bytes]:
    """(status, SQL queries, body) of a request through the full Django stack, in-process.

    Counted on the second of two requests: a process remembers a resolved credential and
    a member's actor for a few seconds (``crm.process_cache``), as it does for a
    client reading more often than that.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    return response.status_code, len(captured.captured_queries), response.content


def _floor_pages(cases: list[ReadCase], bodies: dict[str, bytes]) -> None:
    """Write each read's own answer and its baseline SQL where the servers' ``bare_page``
    and ``bare_sql_page`` views find them."""
    import json
    import tempfile

    handle, path = tempfile.mkstemp(prefix="causerie-bench-pages-", suffix=".json")
    reads = {
        "pages": {case.key: bodies[case.key].decode() for case in cases},
        "queries": {case.key: [case.sql, case.params] for case in cases},
    }
    with os.fdopen(handle, "w") as out:
        json.dump(reads, out, default=str)
    os.environ[FLOOR_PAGES_ENV] = path


def _read_profile(path: str, token: str, count: int) -> dict:
    """cProfile of ``count`` requests through Django's test client (in-process)."""
    from django.test import Client

    client = Client()

    def get():
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code}")

    get()
    cumulative, tottime = _profile(lambda: [get() for _ in range(count)])
    return {
        "profile_title": f"Inbox list: where the time goes (`{path.split('/', 5)[-1]}`)",
        "profile_about": f"cProfile of {count} requests through Django's test client "
        "(in-process, so without the server's own cost):",
        "profile_cumulative": cumulative,
        "profile_tottime": tottime,
    }


def bench_reads(
    built, *, db_url: str, n: int, max_seconds: float | None = None, log=print
) -> list[Result]:
    results = []
    cases = read_cases(built)
    counts = {case.key: query_count(case.path, built.agent_token) for case in cases}
    _floor_pages(cases, {key: body for key, (_s, _q, body) in counts.items()})
    profiled = _read_profile(cases[0].path, built.agent_token, 30)
    headers = {"Authorization": f"Bearer {built.agent_token}"}
    with (
        serving_process("gunicorn", workers=2) as (base, server),
        httpx.Client(base_url=base, headers=headers, timeout=30) as client,
        psycopg.connect(db_url, autocommit=True) as conn,
    ):
        for case in cases:
            rows_seen = {}

            def http_call(case=case, rows_seen=rows_seen):
                response = client.get(case.path)
                if response.status_code != 200:
                    raise RuntimeError(f"{case.path}: {response.status_code} {response.text}")
                rows_seen["http"] = len(response.json()["results"])

            def floor_call(case=case):
                response = client.get(f"/bench/page/{case.key}/")
                if response.status_code != 200:
                    raise RuntimeError(f"floor {case.key}: {response.status_code}")

            def bare_sql_call(case=case, rows_seen=rows_seen):
                response = client.get(f"/bench/sql/{case.key}/")
                if response.status_code != 200:
                    raise RuntimeError(f"bare SQL {case.key}: {response.status_code}")
                rows_seen["bare_sql_bytes"] = len(response.content)

            def guarded_sql_call(case=case):
                response = client.get(f"/bench/guarded-sql/{case.key}/")
                if response.status_code != 200:
                    raise RuntimeError(f"guarded SQL {case.key}: {response.status_code}")

            def sql_call(case=case, rows_seen=rows_seen):
                with conn.cursor() as cur:
                    cur.execute(case.sql, case.params)
                    rows_seen["sql"] = min(50, len(cur.fetchall()))

            causerie = load.time_calls(http_call, n=n, max_seconds=max_seconds)
            baseline = load.time_calls(sql_call, n=n, max_seconds=max_seconds)
            floor = load.time_calls(floor_call, n=n, max_seconds=max_seconds)
            bare_sql = load.time_calls(bare_sql_call, n=n, max_seconds=max_seconds)
            guarded_sql = load.time_calls(guarded_sql_call, n=n, max_seconds=max_seconds)
            _status, queries, body = counts[case.key]
            result = Result.p99_against(
                case.key,
                case.what,
                causerie,
                baseline,
                queries=queries,
                floor_p50_ms=floor.p50_ms,
                floor_p99_ms=floor.p99_ms,
                bare_sql_p50_ms=bare_sql.p50_ms,
                bare_sql_p99_ms=bare_sql.p99_ms,
                guarded_sql_p50_ms=guarded_sql.p50_ms,
                guarded_sql_p99_ms=guarded_sql.p99_ms,
                note=f"{rows_seen.get('http')} rows (SQL: {rows_seen.get('sql')}), "
                f"{len(body) / 1024:.0f} KiB (bare SQL view: "
                f"{rows_seen.get('bare_sql_bytes', 0) / 1024:.0f} KiB), "
                f"{len(causerie.samples)} and {len(baseline.samples)} requests",
                extra=profiled if case is cases[0] else {},
            )
            if not result.goal_met:
                # Untimed: py-spy pauses the workers to read their stacks.
                with sampling(server.pid) as found:
                    for _ in range(n):
                        http_call()
                result.extra = {
                    **result.extra,
                    "sampled": found["sampled"].as_dict(),
                    "sampled_requests": n,
                }
            log(
                f"  {case.key}: p50 {causerie.p50_ms:.1f} / p99 {causerie.p99_ms:.1f} ms, "
                f"SQL p50 {baseline.p50_ms:.2f} / p99 {baseline.p99_ms:.2f} ms, "
                f"ratio {result.ratio:.1f}, {queries} queries; floor p50 {floor.p50_ms:.2f} / p99 "
                f"{floor.p99_ms:.2f} ms; bare SQL view p50 {bare_sql.p50_ms:.2f} / p99 "
                f"{bare_sql.p99_ms:.2f} ms; with authentication and rate limit p50 "
                f"{guarded_sql.p50_ms:.2f} / p99 {guarded_sql.p99_ms:.2f} ms; {result.note}"
            )
            results.append(result)
    return results


# --- Webhook accept -------------------------------------------------------------------------


def messenger_body(page_id: str, psid: str, tag: str, n: int, text: str) -> bytes:
    from integrations.emulator.scenarios import messenger_message, page_envelope
    from integrations.emulator.signing import meta_body

    payload = page_envelope(
        page_id,
        messaging=[
            messenger_message(
                page_id, psid, f"m_{tag}_{n}", text, timestamp_ms=1_764_000_000_000 + n * 1000
            )
        ],
        time_ms=1_764_000_000_000 + n * 1000,
    )
    return meta_body(payload)


def _webhook_requests(built, path: str, count: int, tag: str) -> list[bytes]:
    from integrations.emulator.signing import meta_headers

    page_id = built.brand_accounts["facebook"].external_id
    requests = []
    for n in range(count):
        body = messenger_body(page_id, str(9_000_000 + n % 5000), tag, n, "Bonjour, une question")
        headers = meta_headers(built.app_secret, body)
        headers.pop("X-Hub-Signature", None)
        requests.append(load.raw_request("POST", path, body, headers))
    return requests


def _profile(fn) -> tuple[str, str]:
    """(by cumulative time, project code and Django's db layer; by own time) of ``fn()``."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    ours = r"(crm/|conversations/|contacts/|integrations/|django/db/)"
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(ours, 30)
    cumulative = _trim_profile(out.getvalue())
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return cumulative, _trim_profile(out.getvalue())


def _webhook_in_process(built, count: int) -> tuple[float, str, str]:
    """(SQL queries per request, profiles) of the endpoint through Django's test client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from integrations.emulator.signing import meta_headers

    account = built.brand_accounts["facebook"]
    path = f"/api/v1/inbound/{account.pk}/"
    client = Client()
    tag = uuid.uuid4().hex
    bodies = [
        messenger_body(account.external_id, str(9_100_000 + n), tag, n, "Bonjour")
        for n in range(count + 1)
    ]

    def post(body: bytes):
        signature = meta_headers(built.app_secret, body)["X-Hub-Signature-256"]
        response = client.post(
            path, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature
        )
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}")

    with CaptureQueriesContext(connection) as captured:
        post(bodies[0])
    queries = len(captured.captured_queries)
    cumulative, tottime = _profile(lambda: [post(b) for b in bodies[1:]])
    return queries, cumulative, tottime


# Server setups: (server, psycopg's pool on). The topology compares them on the same work.
WITH_POOL = [("gunicorn", "true"), ("uvicorn", "true")]
WITHOUT_POOL = [("gunicorn", "false"), ("uvicorn", "false")]


def _setup_name(kind: str, pool: str) -> str:
    return kind if pool == "true" else f"{kind}, no pool"


def _setup_key(prefix: str, kind: str, pool: str) -> str:
    return f"{prefix}_{kind}" + ("" if pool == "true" else "_nopool")


def _load_pair(
    base: str, runs: dict[str, list[bytes]], *, concurrency: int, seconds: float, label: str, log
) -> dict[str, load.LoadResult]:
    """Each named list of requests under load on the running server (after a warm-up)."""
    results = {}
    for name, requests in runs.items():
        warm = max(1, min(200, len(requests) // 10))
        load.run_load(base, requests[:warm], concurrency=concurrency, seconds=1)
        results[name] = load.run_load(
            base, requests[warm:], concurrency=concurrency, seconds=seconds
        )
        bad = {k: v for k, v in results[name].statuses.items() if k != 200}
        if bad:
            log(f"  {label} {name}: non-200 answers {bad}")
    return results


def _under_servers(setups, measure, *, workers: int = 2) -> list[Result]:
    """``measure(kind, pool, base_url)`` under each server setup, in turn."""
    results = []
    for kind, pool in setups:
        with serving(kind, workers=workers, env={"DATABASE_POOL": pool}) as base:
            results.append(measure(kind, pool, base))
    return results


def bench_webhooks(
    built, *, seconds: float, concurrency: int = 16, without_pool: bool = False, log=print
) -> list[Result]:
    """Under gunicorn and uvicorn with psycopg's pool (the default settings); with
    ``without_pool`` also gunicorn without it (a new connection per request)."""
    account = built.brand_accounts["facebook"]
    queries, cumulative, tottime = _webhook_in_process(built, 150)
    count = int(seconds * 3000)  # a run ends early (and is timed so) if all are answered

    def measure(kind: str, pool: str, base: str) -> Result:
        server = _setup_name(kind, pool)
        runs = _load_pair(
            base,
            {
                name: _webhook_requests(built, path, count, f"{kind}{pool}{name}{uuid.uuid4().hex}")
                for name, path in (
                    ("causerie", f"/api/v1/inbound/{account.pk}/"),
                    ("bare", "/bench/bare-insert/"),
                )
            },
            concurrency=concurrency,
            seconds=seconds,
            label=f"webhook {server}",
            log=log,
        )
        causerie, bare = runs["causerie"], runs["bare"]
        ratio = causerie.rate / bare.rate if bare.rate else float("nan")
        log(
            f"  webhook {server}: {causerie.rate:.0f} req/s (p50 {causerie.timing.p50_ms:.1f}"
            f" / p99 {causerie.timing.p99_ms:.1f} ms) vs bare {bare.rate:.0f} req/s "
            f"(p99 {bare.timing.p99_ms:.1f} ms): ratio {ratio:.2f}"
        )
        return Result(
            key=_setup_key("webhook", kind, pool),
            what=f"webhook accept, signed Messenger POST, {server} (2 workers, "
            f"{concurrency} connections)",
            unit="req/s",
            causerie=causerie.rate,
            baseline=bare.rate,
            ratio=ratio,
            goal="ratio ≥ 0.8",
            goal_met=ratio >= 0.8,
            p50_ms=causerie.timing.p50_ms,
            p99_ms=causerie.timing.p99_ms,
            baseline_p50_ms=bare.timing.p50_ms,
            baseline_p99_ms=bare.timing.p99_ms,
            queries=queries,
            note=f"{causerie.requests} vs {bare.requests} requests in {seconds:.0f} s",
            extra={
                "profile_title": "Webhook accept: where the time goes",
                "profile_about": f"SQL statements per request: **{queries}**. cProfile "
                "of 150 signed Messenger POSTs through Django's test client "
                "(in-process, so without the server's own cost):",
                "profile_cumulative": cumulative,
                "profile_tottime": tottime,
            }
            if (kind, pool) == ("gunicorn", "true")
            else {},
        )

    return _under_servers(WITH_POOL + (WITHOUT_POOL[:1] if without_pool else []), measure)


def bench_topology(
    built,
    *,
    seconds: float,
    concurrency: int = 8,
    workers: int = 2,
    without_pool: bool = False,
    log=print,
) -> list[Result]:
    """The open inbox (REST, sync view) under concurrent load under each server setup,
    vs the same page from the bare ``bare_page`` view under the same server: which
    process should serve the REST API (README, "Production")."""
    case = read_cases(built)[0]
    if FLOOR_PAGES_ENV not in os.environ:
        _status, _queries, body = query_count(case.path, built.agent_token)
        _floor_pages([case], {case.key: body})
    auth = {"Authorization": f"Bearer {built.agent_token}"}
    count = int(seconds * 2000)

    def measure(kind: str, pool: str, base: str) -> Result:
        server = _setup_name(kind, pool)
        runs = _load_pair(
            base,
            {
                "causerie": [load.raw_request("GET", case.path, b"", auth)] * count,
                "floor": [load.raw_request("GET", f"/bench/page/{case.key}/", b"", {})] * count,
            },
            concurrency=concurrency,
            seconds=seconds,
            label=f"topology {server}",
            log=log,
        )
        causerie, floor = runs["causerie"], runs["floor"]
        ratio = causerie.rate / floor.rate if floor.rate else float("nan")
        log(
            f"  inbox under {server}: {causerie.rate:.0f} req/s (p50 "
            f"{causerie.timing.p50_ms:.1f} / p99 {causerie.timing.p99_ms:.1f} ms) vs the bare "
            f"page {floor.rate:.0f} req/s (p99 {floor.timing.p99_ms:.1f} ms)"
        )
        return Result(
            key=_setup_key("topology_inbox", kind, pool),
            what=f"serving topology: open inbox, {server} ({workers} workers, {concurrency} "
            "connections), vs the same page from a bare view",
            unit="req/s",
            causerie=causerie.rate,
            baseline=floor.rate,
            ratio=ratio,
            goal="measured for the topology",
            goal_met=None,
            p50_ms=causerie.timing.p50_ms,
            p99_ms=causerie.timing.p99_ms,
            baseline_p50_ms=floor.timing.p50_ms,
            baseline_p99_ms=floor.timing.p99_ms,
            note=f"{causerie.requests} vs {floor.requests} requests in {seconds:.0f} s",
        )

    return _under_servers(
        WITH_POOL + (WITHOUT_POOL if without_pool else []), measure, workers=workers
    )


# --- Ingest processing ----------------------------------------------------------------------


def _pending_rows(built, count: int, tag: str) -> list[dict]:
    """Messenger webhook bodies as pending InboundEvent values: 70 % on known threads."""
    import random

    from contacts.models import Identity
    from integrations.emulator.signing import meta_headers

    rng = random.Random(tag)
    account = built.brand_accounts["facebook"]
    known = list(
        Identity.objects.filter(workspace=built.workspace, platform="facebook").values_list(
            "external_id", flat=True
        )[:5000]
    )
    texts = ("Bonjour, où en est ma commande ?", "Hi, is this still available?", "Merci 🙏")
    rows = []
    for n in range(count):
        if known and rng.random() < 0.7:
            psid = rng.choice(known)
        else:
            psid = str(8_000_000 + rng.randrange(count))
        body = messenger_body(account.external_id, psid, tag, n, rng.choice(texts))
        rows.append(
            {
                "id": uuid.uuid4(),
                "workspace_id": built.workspace.pk,
                "brand_account_id": account.pk,
                "platform": "facebook",
                "body": body,
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "headers": {
                    "content-type": "application/json",
                    "x-hub-signature-256": meta_headers(built.app_secret, body)[
                        "X-Hub-Signature-256"
                    ],
                },
                "status": "pending",
            }
        )
    return rows


def _copy_pending(rows: list[dict]) -> float:
    from django.db import connection, transaction

    from integrations.models import InboundEvent

    from .dataset import Table, copy_rows

    table = Table(InboundEvent)
    started = time.perf_counter()
    with transaction.atomic():
        copy_rows(connection.cursor().cursor, table, [table.row(r) for r in rows])
    return time.perf_counter() - started


def _copy_bare(db_url: str, rows: list[dict]) -> float:
    import json

    started = time.perf_counter()
    with (
        psycopg.connect(db_url) as conn,
        conn.cursor() as cur,
        cur.copy(
            f"COPY {BARE_TABLE} (id, workspace_id, brand_account_id, platform, body, "
            "body_sha256, headers, status) FROM STDIN"
        ) as copy,
    ):
        for r in rows:
            copy.write_row(
                (
                    r["id"],
                    r["workspace_id"],
                    r["brand_account_id"],
                    r["platform"],
                    r["body"],
                    r["body_sha256"],
                    json.dumps(r["headers"]),
                    r["status"],
                )
            )
    return time.perf_counter() - started


def _sql_shape(sql: str) -> str:
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+\b", "?", sql)
    head = sql.split(" WHERE ")[0]
    return head[:110]


def _drain_worker(budget_seconds: float, started_at, results) -> None:
    from django.db import connection

    from integrations.services.processing import inbound_events_drain

    connection.close()  # a connection of its own, never the parent's
    started_at.wait()
    began, cpu_began = time.perf_counter(), time.process_time()
    done = inbound_events_drain(budget_seconds=budget_seconds)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    backend = backend_pid(connection)
    connection.close()
    results.put((done, seconds, cpu, backend))


@dataclass
class Drained:
    """What ``count`` drain processes did: events, seconds until the last finished, their
    CPU seconds, and the PostgreSQL backends they used (closed by then)."""

    events: int
    seconds: float
    cpu_seconds: float
    backends: list[int]


def _bare_drain_worker(budget_seconds: float, started_at, results, db_url: str, account) -> None:
    import psycopg

    from .bare_ingest import bare_ingest_drain

    with psycopg.connect(db_url) as conn:
        started_at.wait()
        began, cpu_began = time.perf_counter(), time.process_time()
        done = bare_ingest_drain(conn, account, budget_seconds=budget_seconds)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        backend = conn.info.backend_pid
    results.put((done, seconds, cpu, backend))


def _drain_in_processes(count: int, budget_seconds: float, *, bare=None) -> Drained:
    """Run ``inbound_events_drain`` (the Celery task's loop) in ``count`` processes at once;
    given ``bare`` (the database URL and a ``bare_ingest.Account``), the bare ingest's."""
    import multiprocessing

    from django.db import connection

    connection.close()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(count + 1), context.Queue()
    target, more = (_drain_worker, ()) if bare is None else (_bare_drain_worker, bare)
    workers = [
        context.Process(target=target, args=(budget_seconds, barrier, results, *more))
        for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    outcomes = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return Drained(
        events=sum(o[0] for o in outcomes),
        seconds=max(o[1] for o in outcomes),
        cpu_seconds=sum(o[2] for o in outcomes),
        backends=[o[3] for o in outcomes],
    )


# Events per second on 2 cores (the goal for batch ingest).
INGEST_GOAL = 5000


def _ingest_cpu(spent: CpuSpent, workers_cpu: float, events: int) -> dict:
    """CPU per event of a drain, by PostgreSQL and by the workers, and what the machine's
    cores allow PostgreSQL's part alone: its ceiling were the workers to cost nothing."""
    cores = os.cpu_count() or 1
    workers_ms = workers_cpu * 1000 / events
    server_ms = spent.server * 1000 / events if spent.server is not None else None
    return {
        "cores": cores,
        "busy_share": spent.busy_share,
        "workers_ms": workers_ms,
        "server_ms": server_ms,
        "server_ceiling": cores * 1000 / server_ms if server_ms else None,
        "ceiling": cores * 1000 / (server_ms + workers_ms) if server_ms else None,
    }


def bench_ingest(
    built, *, db_url: str, events: int, budget_seconds: float, profile_events: int, log=print
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.models import InboundEvent
    from integrations.services.processing import BATCH_SIZE, inbound_events_drain

    InboundEvent.objects.filter(workspace=built.workspace).delete()
    rows = _pending_rows(built, events, "ingest")
    _copy_pending(rows)
    # As production runs it: the Celery task's drain (batches of BATCH_SIZE), one process.
    drained = _drain_in_processes(1, budget_seconds)
    processed, elapsed = drained.events, drained.seconds
    failed = InboundEvent.objects.filter(status="failed").count()
    copy_seconds = _copy_bare(db_url, rows)
    rate, copy_rate = processed / elapsed, len(rows) / copy_seconds
    log(
        f"  ingest: {processed} of {len(rows)} events in {elapsed:.1f} s = {rate:.0f} events/s "
        f"({failed} failed); COPY baseline {copy_rate:.0f} rows/s"
    )
    InboundEvent.objects.filter(workspace=built.workspace, status="pending").delete()

    # Two worker processes draining the same queue, one per core.
    pair_rows = _pending_rows(built, events, "ingest-pair")
    _copy_pending(pair_rows)
    with cpu_spent(connection) as spent:
        pair = _drain_in_processes(2, budget_seconds)
        processes_gone(pair.backends)
    pair_processed, pair_elapsed = pair.events, pair.seconds
    pair_rate = pair_processed / pair_elapsed
    cpu = _ingest_cpu(spent, pair.cpu_seconds, pair_processed)
    log(
        f"  ingest, 2 processes: {pair_processed} events in {pair_elapsed:.1f} s "
        f"= {pair_rate:.0f} events/s; CPU per event: PostgreSQL "
        + ("not on this machine" if cpu["server_ms"] is None else f"{cpu['server_ms']:.3f} ms")
        + f", workers {cpu['workers_ms']:.3f} ms; cores busy {cpu['busy_share']:.0%}"
    )
    InboundEvent.objects.filter(workspace=built.workspace, status="pending").delete()

    # The floor: the same rows written by hand-written SQL (bench/bare_ingest.py) from as
    # many pending events, in as many processes, measured the same way.
    _copy_pending(_pending_rows(built, events, "ingest-bare"))
    account = account_of(built.brand_accounts["facebook"])
    with cpu_spent(connection) as bare_spent:
        bare = _drain_in_processes(2, budget_seconds, bare=(db_url, account))
        processes_gone(bare.backends)
    bare_rate = bare.events / bare.seconds
    bare_cpu = _ingest_cpu(bare_spent, bare.cpu_seconds, bare.events)
    log(
        f"  bare ingest, 2 processes: {bare.events} events in {bare.seconds:.1f} s "
        f"= {bare_rate:.0f} events/s"
    )
    InboundEvent.objects.filter(workspace=built.workspace, status="pending").delete()

    # Where the time goes: SQL per event over one production batch, then a cProfile.
    small = _pending_rows(built, BATCH_SIZE, "queries")
    _copy_pending(small)
    with CaptureQueriesContext(connection) as captured:
        inbound_events_drain(budget_seconds=3600)
    per_event = len(captured.captured_queries) / len(small)
    shapes = Counter(_sql_shape(q["sql"]) for q in captured.captured_queries)
    sql_top = [(shape, count / len(small)) for shape, count in shapes.most_common(12)]

    prof_rows = _pending_rows(built, profile_events, "profile")
    _copy_pending(prof_rows)
    cumulative, tottime = _profile(lambda: inbound_events_drain(budget_seconds=3600))

    # The same drain as production runs it, in a process of its own, sampled by py-spy
    # (untimed; this process only waits for it meanwhile, without the GIL).
    _copy_pending(_pending_rows(built, events, "sampled"))
    with sampling(os.getpid()) as found:
        _drain_in_processes(1, budget_seconds)

    # The goal is per machine (2 cores): judged on two worker processes, one per core, as
    # the README's topology runs them (`concurrency = cores`); one process is shown beside.
    return Result(
        key="ingest",
        what="ingest processing: pending Messenger InboundEvents → contacts, "
        f"conversations, messages (`inbound_events_drain`, batches of {BATCH_SIZE}, "
        "2 worker processes: one per core)",
        unit="events/s",
        causerie=pair_rate,
        baseline=copy_rate,
        ratio=pair_rate / copy_rate if copy_rate else float("nan"),
        goal=f"≥ {INGEST_GOAL:,} events/s",
        goal_met=pair_rate >= INGEST_GOAL,
        queries=per_event,
        note=f"{pair_processed} events in {pair_elapsed:.1f} s, 70 % on existing threads; "
        f"1 process: {rate:.0f} events/s ({processed} events in {elapsed:.1f} s); "
        "baseline: COPY of the same rows into a bare table",
        extra={
            "sql_per_event": sql_top,
            "profile_cumulative": cumulative,
            "profile_tottime": tottime,
            "profile_events": profile_events,
            "one_process": rate,
            "two_processes": pair_rate,
            "cpu": cpu,
            "bare": {"events_per_second": bare_rate, "events": bare.events, "cpu": bare_cpu},
            "goal_events_per_second": INGEST_GOAL,
            "sampled": found["sampled"].as_dict(),
            "sampled_events": events,
        },
    )


def _trim_profile(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    keep, started = [], False
    for line in lines:
        if line.strip().startswith("ncalls"):
            started = True
        if started and line.strip():
            keep.append(line.replace(str(_root()), "."))
    return "\n".join(keep)


def _root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent)
