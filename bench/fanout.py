"""Websocket fan-out: one REST call's event reaching every connected agent.

N agents of one workspace (team visibility on, all in the team of the conversation, so
each connection filters every event as a restricted agent) open ``/ws/v1/inbox/`` with
a ticket of their own and subscribe; then a private note is posted on the conversation
through the REST API. As the README's topology has it, uvicorn (2 workers) serves the
websockets and gunicorn (2 sync workers) the REST API. The latency of a round is, for
every client, the time from sending that POST to the arrival of its ``message.created``
event, so p50/p99 are over clients and rounds (after ``WARMUP_ROUNDS`` untimed ones).

Baseline, in the same run, under the same uvicorn processes (``bench.asgi``): N
connections to a bare consumer that only joins a channel-layer group, and ``group_send``
from this process of the same frames the note's commit sends (``conversation.updated``
then ``message.created``, the same sizes), timed to the arrival of the second. Rounds of
both kinds alternate.

The clients are one asyncio process (uvloop, the ``websockets`` library, no permessage
compression), which matches each frame against the round's token without parsing JSON;
its CPU time per delivered message is reported so that its share of the figures shows.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

import httpx

from .live import LiveWorkspace, live_workspace
from .load import Timing
from .servers import serving, serving_process, tree_rss_bytes

WORKSPACE_SLUG = "bench-fanout"
# Untimed rounds of each kind before the timed ones. The first REST calls after the
# servers start are slow (each gunicorn worker's first notes, its connections; in three
# sampled runs the calls after the first two were 72-114 ms against a median of 40-44)
# and a round's 500 arrivals all follow its call, so one such round alone made the p99.
WARMUP_ROUNDS = 8


@dataclass
class Round:
    """One round's state, shared by every client's reader."""

    token: str = ""
    started: float = 0.0
    expected: int = 0
    arrivals: list[float] = field(default_factory=list)
    done: asyncio.Event | None = None
    # The frames a client received for the round's REST call, the token's one last.
    sample: list[str] = field(default_factory=list)


def fanout_tickets(members: list) -> list[str]:
    """One single-use realtime ticket per member (valid 60 s)."""
    from crm.actors import Actor
    from crm.services.realtime_tickets import realtime_ticket_issue

    return [realtime_ticket_issue(actor=Actor.for_member(m)).ticket for m in members]


async def _reader(websocket, state: dict) -> None:
    seen_round = -1
    previous = ""
    async for raw in websocket:
        current: Round | None = state.get("round")
        if current is not None and seen_round != state["number"] and current.token in raw:
            seen_round = state["number"]
            current.arrivals.append(time.perf_counter())
            if not current.sample:
                # A note's commit sends conversation.updated, then message.created.
                current.sample = [previous, raw] if "conversation.updated" in previous else [raw]
            if len(current.arrivals) == current.expected:
                current.done.set()
        elif '"type": "ping"' in raw:
            await websocket.send('{"type": "pong"}')
        previous = raw


async def _open(url: str, semaphore: asyncio.Semaphore, subscribe: dict | None):
    import websockets

    async with semaphore:
        websocket = await websockets.connect(
            url, compression=None, proxy=None, max_queue=None, open_timeout=60
        )
        if subscribe is not None:
            await websocket.send(json.dumps(subscribe))
            while True:
                message = json.loads(await asyncio.wait_for(websocket.recv(), 60))
                if message["type"] == "subscribed":
                    break
                if message["type"] in ("error", "resync"):
                    raise RuntimeError(f"fan-out subscribe refused: {message}")
        return websocket


async def _connect_all(urls: list[str], subscribe: dict | None) -> list:
    semaphore = asyncio.Semaphore(32)
    return await asyncio.gather(*(_open(url, semaphore, subscribe) for url in urls))


async def _round(state: dict, expected: int, fire, wait: float = 15.0) -> tuple[Round, float]:
    """Run one round: ``fire(token)`` causes the event; the arrivals at every client."""
    current = Round(token=f"fanout-{uuid.uuid4().hex}", expected=expected, done=asyncio.Event())
    state["number"] += 1
    state["round"] = current
    current.started = time.perf_counter()
    call_seconds = await fire(current.token)
    try:
        await asyncio.wait_for(current.done.wait(), wait)
    except TimeoutError:
        raise RuntimeError(
            f"fan-out: {len(current.arrivals)} of {expected} clients got the event in {wait} s"
        ) from None
    state["round"] = None
    return current, call_seconds


@dataclass
class FanoutFigures:
    causerie: Timing
    baseline: Timing
    rest_call: Timing
    rss_idle: int
    rss_per_connection: float
    rss_per_bare_connection: float
    client_cpu_us_per_message: float
    client_cpu_share: float
    message_bytes: list[int]
    rounds: int


async def _measure(
    base: str, rest_base: str, server_pid: int, ws: LiveWorkspace, tickets, rounds: int
):
    from channels.layers import get_channel_layer

    from .asgi import BARE_GROUP, BARE_PATH

    ws_base = base.replace("http://", "ws://")
    n = len(ws.members)
    subscribe = {"type": "subscribe", "workspace": ws.slug, "after": None}
    inbox = f"{ws_base}/ws/v1/inbox/?ticket="
    bare_url = f"{ws_base}/{BARE_PATH}"
    # A few connections of each kind first, so that the idle figure includes the
    # process's one-off costs (imports, the channel layer's and the database's connections).
    warm = await _connect_all([inbox + t for t in tickets[:4]], subscribe)
    warm += await _connect_all([bare_url] * 4, None)
    await asyncio.sleep(1.0)
    rss_idle = tree_rss_bytes(server_pid)
    clients = await _connect_all([inbox + t for t in tickets[4 : 4 + n]], subscribe)
    await asyncio.sleep(1.0)
    rss_inbox = tree_rss_bytes(server_pid)
    bare = await _connect_all([bare_url] * n, None)
    await asyncio.sleep(1.0)
    rss_bare = tree_rss_bytes(server_pid)

    causerie_state = {"number": 0, "round": None}
    bare_state = {"number": 0, "round": None}
    readers = [asyncio.create_task(_reader(c, causerie_state)) for c in clients]
    readers += [asyncio.create_task(_reader(c, bare_state)) for c in bare]
    readers += [asyncio.create_task(_reader(c, {"number": 0, "round": None})) for c in warm]
    layer = get_channel_layer()
    path = f"/api/v1/workspaces/{ws.slug}/conversations/{ws.conversation_ids[0]}/messages/"
    headers = {"Authorization": f"Bearer {ws.token}"}
    template: dict = {}

    async with httpx.AsyncClient(base_url=rest_base, headers=headers, timeout=30) as http:

        async def post_note(token: str) -> float:
            started = time.perf_counter()
            response = await http.post(path, json={"text": f"Note {token}", "private": True})
            if response.status_code != 201:
                raise RuntimeError(f"fan-out note: {response.status_code} {response.text}")
            return time.perf_counter() - started

        async def group_send(token: str) -> float:
            texts = [text.replace(template["token"], token) for text in template["texts"]]
            started = time.perf_counter()
            for text in texts:
                await layer.group_send(BARE_GROUP, {"type": "bench.event", "text": text})
            return time.perf_counter() - started

        causerie, baseline, calls = Timing(), Timing(), Timing()
        cpu = wall = 0.0
        deliveries = 0
        for number in range(WARMUP_ROUNDS + rounds):
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            first, call = await _round(causerie_state, n, post_note)
            if not template:
                template.update(texts=first.sample, token=first.token)
            await asyncio.sleep(0.05)
            second, _ = await _round(bare_state, n, group_send)
            if number >= WARMUP_ROUNDS:
                cpu += time.process_time() - cpu_started
                wall += time.perf_counter() - wall_started
                deliveries += len(first.arrivals) + len(second.arrivals)
                causerie.samples += [a - first.started for a in first.arrivals]
                baseline.samples += [a - second.started for a in second.arrivals]
                calls.samples.append(call)
            await asyncio.sleep(0.05)

    for task in readers:
        task.cancel()
    await asyncio.gather(*(c.close() for c in [*clients, *bare, *warm]), return_exceptions=True)
    await asyncio.gather(*readers, return_exceptions=True)
    return FanoutFigures(
        causerie=causerie,
        baseline=baseline,
        rest_call=calls,
        rss_idle=rss_idle,
        rss_per_connection=(rss_inbox - rss_idle) / n,
        rss_per_bare_connection=(rss_bare - rss_inbox) / n,
        client_cpu_us_per_message=cpu / deliveries * 1e6 if deliveries else float("nan"),
        client_cpu_share=cpu / wall if wall else float("nan"),
        message_bytes=[len(text.encode()) for text in template["texts"]],
        rounds=rounds,
    )


def bench_fanout(*, clients: int, rounds: int, workers: int = 2, log=print):
    """The fan-out result (see the module docstring)."""
    import uvloop

    from .benchmarks import Result

    ws = live_workspace(WORKSPACE_SLUG, agents=clients, team_only=True)
    # The README's topology: REST under gunicorn, websockets under uvicorn.
    with (
        serving("gunicorn", workers=workers) as rest_base,
        serving_process("uvicorn", workers=workers, app="bench.asgi:application") as (
            base,
            process,
        ),
    ):
        tickets = fanout_tickets(ws.members[:4] + ws.members)
        figures = uvloop.run(_measure(base, rest_base, process.pid, ws, tickets, rounds))
    c, b = figures.causerie, figures.baseline
    ratio = c.p99_ms / b.p99_ms if b.p99_ms else float("nan")
    kib = figures.rss_per_connection / 1024
    bare_kib = figures.rss_per_bare_connection / 1024
    log(
        f"  fan-out to {clients}: p50 {c.p50_ms:.1f} / p99 {c.p99_ms:.1f} ms vs bare group_send "
        f"p50 {b.p50_ms:.1f} / p99 {b.p99_ms:.1f} ms: p99 ratio {ratio:.2f}; REST call p50 "
        f"{figures.rest_call.p50_ms:.1f} ms; {kib:.0f} KiB per connection (bare {bare_kib:.0f});"
        f" load generator {figures.client_cpu_us_per_message:.0f} µs CPU per message, "
        f"{figures.client_cpu_share:.0%} of a core"
    )
    return Result.p99_against(
        "fanout",
        f"websocket fan-out: private note via REST → `message.created` at every one of "
        f"{clients} agents (REST: gunicorn, websockets: uvicorn, {workers} workers each)",
        c,
        b,
        note=f"{figures.rounds} rounds of each; frames of {figures.message_bytes} B; "
        f"{kib:.0f} KiB server memory per connection (bare consumer {bare_kib:.0f} KiB)",
        extra={
            "clients": clients,
            "rounds": figures.rounds,
            "rest_call_p50_ms": figures.rest_call.p50_ms,
            "rest_call_p99_ms": figures.rest_call.p99_ms,
            "memory_per_connection_kib": kib,
            "memory_per_bare_connection_kib": bare_kib,
            "server_rss_idle_mib": figures.rss_idle / 2**20,
            "message_bytes": figures.message_bytes,
            "load_generator_cpu_us_per_message": figures.client_cpu_us_per_message,
            "load_generator_cpu_share": figures.client_cpu_share,
        },
    )
