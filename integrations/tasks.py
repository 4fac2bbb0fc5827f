"""Celery tasks of the integrations app: thin interfaces over the services."""

import random
import time

from celery import shared_task


@shared_task(name="integrations.process_inbound_events", acks_late=True, ignore_result=True)
def process_inbound_events_task() -> int:
    """Drain pending inbound events in batches (idempotent: safe to run twice).

    A drain that spends its time budget while batches still come may leave work behind: it
    queues the next drain at once rather than leave the rest to beat's sweep, which the
    embedded default does not run.
    """
    from crm.tasks import task_enqueue

    from .services import processing

    budget = processing.DRAIN_SECONDS
    started = time.monotonic()
    done = processing.inbound_events_drain(budget_seconds=budget)
    if done and time.monotonic() - started >= budget:
        task_enqueue(process_inbound_events_task)
    return done


@shared_task(
    bind=True,
    name="integrations.send_reply",
    acks_late=True,
    ignore_result=True,
    max_retries=12,
)
def send_reply_task(self, *, message_id: str) -> str:
    """Send one queued reply; retried with the platform's wait (rate limit) or backoff."""
    from .services.outbound import RetryLater, outbound_send, outbound_send_lease

    outbound_send_lease(message_id=message_id)
    try:
        return outbound_send(message_id=message_id)
    except RetryLater as exc:
        if exc.own_limit:
            # Back when a slot is near enough to wait for, spread over a second so that the
            # replies held back do not all return at one instant; a burst drains at the
            # limit, not slower.
            countdown = exc.seconds + random.random()
            raise self.retry(countdown=countdown, exc=exc, max_retries=None) from exc
        # Honour the platform's own wait, growing with each retry for transient errors.
        countdown = max(exc.seconds, min(600, 2**self.request.retries))
        # The retry holds the reply until it runs, so the sweep does not send it earlier.
        outbound_send_lease(message_id=message_id, seconds=countdown + 20)
        raise self.retry(countdown=countdown, exc=exc) from exc


@shared_task(name="integrations.sweep_stale_sends", ignore_result=True)
def sweep_stale_sends_task() -> int:
    """Fail replies whose send was interrupted long ago."""
    from .services.outbound import outbound_stale_sweep

    return outbound_stale_sweep()


@shared_task(name="integrations.sweep_queued_sends", ignore_result=True)
def sweep_queued_sends_task() -> int:
    """Queue again the replies whose send task was lost (killed worker, broker restart)."""
    from .services.outbound import outbound_queued_sweep

    return outbound_queued_sweep()


@shared_task(name="integrations.poll_brand_accounts", ignore_result=True)
def poll_brand_accounts_task() -> int:
    """Poll every active polling account once (Telegram, YouTube and WordPress comments)."""
    from .models import BrandAccount
    from .services.polling import account_polls, brand_account_poll

    stored = 0
    for account in BrandAccount.objects.filter(
        status="active", platform__in=("telegram", "youtube", "wordpress")
    ):
        if account_polls(account):
            stored += brand_account_poll(account_id=account.pk)
    return stored


@shared_task(
    bind=True,
    name="integrations.backfill_brand_account",
    acks_late=True,
    ignore_result=True,
    max_retries=10,
)
def backfill_brand_account_task(self, *, account_id: str) -> None:
    """Walk an account's history page by page, resuming from its stored cursor."""
    import time

    from .adapters import RateLimited
    from .services.polling import brand_account_backfill_step

    started = time.monotonic()
    try:
        while brand_account_backfill_step(account_id=account_id):
            if time.monotonic() - started > 20:
                # Hand over to a fresh task: a long history never pins one worker.
                backfill_brand_account_task.delay(account_id=account_id)
                return
    except RateLimited as exc:
        raise self.retry(countdown=exc.retry_after_seconds or 60, exc=exc) from exc
