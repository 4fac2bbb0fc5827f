"""Queueing Celery tasks (with an in-process background mode for the embedded default), and
the event log's pruning task."""

import logging
import threading

from celery import shared_task
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)


def task_enqueue(task, **kwargs) -> None:
    """Queue ``task`` with keyword arguments.

    With a broker this is ``delay``. The embedded default has no broker and runs tasks
    eagerly; with ``CAUSERIE_EAGER_TASKS_IN_THREADS`` they run in a background thread
    instead, as a worker would, so that a request answers before the task's work (a
    reply answers 202 ``queued`` and the send happens after).
    """
    _enqueue(task, 0.0, kwargs)


def task_enqueue_later(task, seconds: float, **kwargs) -> None:
    """Queue ``task`` to run in ``seconds``: a countdown with a broker, a timer thread in
    the embedded default. Tests that run tasks inline drain their queues themselves, so
    there a delayed task is not run at all rather than early."""
    _enqueue(task, seconds, kwargs)


def _enqueue(task, seconds: float, kwargs: dict) -> None:
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        if seconds:
            task.apply_async(kwargs=kwargs, countdown=seconds)
        else:
            task.delay(**kwargs)
        return
    if not settings.CAUSERIE_EAGER_TASKS_IN_THREADS:
        if not seconds:
            task.delay(**kwargs)
        return

    def run() -> None:
        try:
            task.apply(kwargs=kwargs)
        except Exception:
            logger.exception("background task %s failed", task.name)
        finally:
            connection.close()

    thread = threading.Timer(seconds, run) if seconds else threading.Thread(target=run)
    thread.name = f"task:{task.name}"
    thread.daemon = True
    thread.start()


@shared_task(name="crm.prune_events", ignore_result=True)
def prune_events_task() -> int:
    """Delete events past ``CAUSERIE_EVENT_RETENTION`` in bounded batches (run by beat)."""
    from .services.events import events_prune

    return events_prune()
