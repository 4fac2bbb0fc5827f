"""Outbound sends: replies/s through the emulator under a configured platform limit.

N replies are queued through the REST API (202 ``queued``) on conversations of one
Facebook page whose send limit is ``CAUSERIE_SEND_RATE_FACEBOOK`` = L per second; then the
sends worker of the README (queue ``outbound``, 8 threads) sends them to the emulator,
which plays the Graph API in a process of its own. The rate is the emulator's: sends per
second from the first it received to the last, (N - 1) / their span; its log also shows
the most sends it saw in one clock second and in any sliding second (the platform's view,
which the limit holds).

Baseline, in the same run: the same Send API request (as the emulator recorded it),
POSTed N times with httpx over one kept-alive connection, each 1/L s after the previous
one (the fastest pacing that stays within L in every second), measured the same way.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx

from .cpu import process_cpu_seconds
from .servers import celery_worker, emulator, serving

WORKSPACE_SLUG = "bench-outbound"
# The sends worker as the README runs it: ``celery worker -Q outbound -P threads -c 8``.
SENDS_WORKER_THREADS = 8
# Of the baseline's rate: the sends keep up with the platform's limit.
GOAL_RATIO = 0.8


def _sends(base: str, page_id: str) -> list[dict]:
    """The Send API calls the emulator received for the page, oldest first."""
    from integrations.emulator.client import EmulatorClient

    with EmulatorClient(base) as client:
        recorded = client.requests("facebook")
    return [
        r for r in recorded if r["method"] == "POST" and r["path"].endswith(f"/{page_id}/messages")
    ]


def _per_second(times: list[float]) -> list[int]:
    """Sends in each clock second, from the first send's to the last's."""
    if not times:
        return []
    counts = Counter(int(t) for t in times)
    return [counts.get(second, 0) for second in range(int(times[0]), int(times[-1]) + 1)]


def _rate(times: list[float]) -> float:
    """Sends per second from the first send to the last: (n - 1) / their span."""
    if len(times) < 2 or times[-1] <= times[0]:
        return float("nan")
    return (len(times) - 1) / (times[-1] - times[0])


def _clock_rate(times: list[float]) -> float:
    """Sends per clock second they span (the former measure, kept for comparison)."""
    seconds = len(_per_second(times))
    return len(times) / seconds if seconds else float("nan")


def _per_second_max(times: list[float]) -> tuple[int, int]:
    """The most sends in one clock second, and in any sliding one-second span."""
    aligned = max(Counter(int(t) for t in times).values(), default=0)
    sliding, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        sliding = max(sliding, end - start + 1)
    return aligned, sliding


def _bare_sends(base: str, request: dict, count: int, limit: int) -> None:
    """POST ``request`` ``count`` times, each 1/``limit`` s after the previous one: the
    fastest pacing that never puts more than ``limit`` sends in any second."""
    wanted = ("authorization", "content-type")
    headers = {k: v for k, v in request["headers"].items() if k.lower() in wanted}
    body = request["raw_body"].encode()
    with httpx.Client(base_url=base, timeout=10) as client:
        due = time.monotonic()
        for _ in range(count):
            time.sleep(max(0.0, due - time.monotonic()))
            due = time.monotonic() + 1 / limit
            response = client.post(request["path"], headers=headers, content=body)
            if response.status_code != 200:
                raise RuntimeError(f"bare send: {response.status_code} {response.text}")


def bench_outbound(*, replies: int, limit: int, conversations: int = 20, budget: float, log=print):
    """The outbound-send result (see the module docstring)."""
    from conversations.models import Message
    from integrations.emulator.client import EmulatorClient

    from .benchmarks import Result
    from .live import live_workspace

    ws = live_workspace(WORKSPACE_SLUG, agents=1, conversations=conversations)
    page_id = ws.account.external_id
    with emulator() as emu:
        with EmulatorClient(emu) as client:
            client.register_account("facebook", page_id, ws.account.credentials)
        env = {"CAUSERIE_GRAPH_API_URL": emu, "CAUSERIE_SEND_RATE_FACEBOOK": str(limit)}
        headers = {"Authorization": f"Bearer {ws.token}"}
        with (
            serving("gunicorn", workers=2, env=env) as base,
            httpx.Client(base_url=base, headers=headers, timeout=30) as http,
        ):
            queued_at = time.time()
            for n in range(replies):
                conversation = ws.conversation_ids[n % conversations]
                response = http.post(
                    f"/api/v1/workspaces/{ws.slug}/conversations/{conversation}/messages/",
                    json={"text": f"Merci, nous regardons votre commande ({n}).", "private": False},
                )
                if response.status_code != 202:
                    raise RuntimeError(f"reply: {response.status_code} {response.text}")
            queue_seconds = time.time() - queued_at
            sent = Message.objects.filter(workspace=ws.workspace, direction="outbound")
            with celery_worker(
                queues="outbound",
                pool="threads",
                concurrency=SENDS_WORKER_THREADS,
                name="sends",
                env=env,
            ) as worker:
                worker_cpu = process_cpu_seconds(worker.pid)
                deadline = time.monotonic() + budget
                while time.monotonic() < deadline:
                    if sent.filter(status="sent").count() >= replies:
                        break
                    time.sleep(0.25)
                done_at = time.time()
                worker_cpu = process_cpu_seconds(worker.pid) - worker_cpu
        statuses = dict(Counter(sent.values_list("status", flat=True)))
        sends = _sends(emu, page_id)
        causerie_times = [r["received_at"] for r in sends]
        _bare_sends(emu, sends[0], replies, limit)
        baseline_times = [r["received_at"] for r in _sends(emu, page_id)[len(sends) :]]
    causerie, baseline = _rate(causerie_times), _rate(baseline_times)
    ratio = causerie / baseline if baseline else float("nan")
    aligned, sliding = _per_second_max(causerie_times)
    all_sent = statuses.get("sent", 0) == replies
    # The worker is one process: its threads share one interpreter, so its CPU per send
    # bounds its rate whatever the platform allows.
    worker_ms = worker_cpu * 1000 / max(1, statuses.get("sent", 0))
    within = sliding <= limit
    log(
        f"  outbound: {statuses.get('sent', 0)} of {replies} replies sent at {causerie:.1f}/s "
        f"(limit {limit}/s; at most {aligned} in a clock second, {sliding} in a sliding one) "
        f"vs bare httpx {baseline:.1f}/s: ratio {ratio:.2f}; queued in {queue_seconds:.1f} s, "
        f"all sent {done_at - queued_at:.1f} s after the first was queued; {statuses}; "
        f"the sends worker's CPU {worker_ms:.1f} ms per send"
    )
    return Result(
        key="outbound",
        what=f"outbound send: {replies} replies queued via REST → `sent` through the emulator, "
        f"Facebook limit {limit}/s (sends worker: Celery, {SENDS_WORKER_THREADS} threads)",
        unit="replies/s",
        causerie=causerie,
        baseline=baseline,
        ratio=ratio,
        goal=f"ratio ≥ {GOAL_RATIO}, never over {limit} in a second",
        goal_met=all_sent and within and ratio >= GOAL_RATIO,
        note=f"{statuses.get('sent', 0)} of {replies} sent; at most {aligned} sends in a clock "
        f"second ({sliding} in a sliding second); queued in {queue_seconds:.1f} s",
        extra={
            "limit": limit,
            "replies": replies,
            "statuses": statuses,
            "max_per_clock_second": aligned,
            "max_per_sliding_second": sliding,
            "queue_seconds": queue_seconds,
            "queued_to_all_sent_seconds": done_at - queued_at,
            "sends_per_second": _per_second(causerie_times),
            "baseline_sends_per_second": _per_second(baseline_times),
            "per_clock_second_rate": _clock_rate(causerie_times),
            "baseline_per_clock_second_rate": _clock_rate(baseline_times),
            "baseline_max_per_sliding_second": _per_second_max(baseline_times)[1],
            "worker_cpu_ms_per_send": worker_ms,
            "worker_ceiling": 1000 / worker_ms if worker_ms else None,
            "goal_ratio": GOAL_RATIO,
        },
    )
