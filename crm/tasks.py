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
    if not (settings.CELERY_TASK_ALWAYS_EAGER and settings.CAUSERIE_EAGER_TASKS_IN_THREADS):
        task.delay(**kwargs)
        return

    def run() -> None:
        try:
            task.apply(kwargs=kwargs)
        except Exception:
            logger.exception("background task %s failed", task.name)
        finally:
            connection.close()

    threading.Thread(target=run, name=f"task:{task.name}", daemon=True).start()


@shared_task(name="crm.prune_events", ignore_result=True)
def prune_events_task() -> int:
    """Delete events past ``CAUSERIE_EVENT_RETENTION`` in bounded batches (run by beat)."""
    from .services.events import events_prune

    return events_prune()
