"""Real checks of the services Causerie depends on, for ``GET /api/v1/health``."""

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from kombu import Connection

CHECK_TIMEOUT_SECONDS = 2.0


def _timed(check: Callable[[], str | None]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:  # a health check reports every failure instead of raising
        return {
            "status": "error",
            "error": f"{type(exc).__name__}: {exc}"[:300],
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }
    result = {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    if detail:
        result["detail"] = detail
    return result


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


async def _channel_layer_round_trip() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel(prefix="health.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "health.ping", "token": token})
    message = await asyncio.wait_for(layer.receive(channel), timeout=CHECK_TIMEOUT_SECONDS)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")
    return type(layer).__name__


def _channel_layer() -> str:
    return async_to_sync(_channel_layer_round_trip)()


def _broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER and not settings.CELERY_BROKER_URL:
        return "tasks run in-process (no broker configured)"
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=CHECK_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
        return conn.transport.driver_name


def health_report() -> dict[str, Any]:
    """``{"status": "ok"|"degraded", "checks": {...}}`` from live checks of each service."""
    checks = {
        "database": _timed(_database),
        "channel_layer": _timed(_channel_layer),
        "broker": _timed(_broker),
    }
    healthy = all(check["status"] == "ok" for check in checks.values())
    return {"status": "ok" if healthy else "degraded", "checks": checks}
