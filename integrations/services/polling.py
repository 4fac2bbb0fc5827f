"""Pulling from platforms: polling (Telegram getUpdates, YouTube, WordPress) and backfill.

Both store what they fetch as pending InboundEvents and advance their cursor in the same
transaction, under the account's row lock: a crash between the two cannot skip or repeat
a page, and two workers never poll one account at once. From there the path is the one
of webhooks (processing, the same idempotent ingest), so an item seen both by webhook and
by backfill is stored once.
"""

import hashlib
import logging
from datetime import timedelta

import httpx
from django.db import transaction
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import Conflict, PolicyRefusal
from crm.services.audit import audit_record
from crm.services.events import event_record
from crm.webhooks.ssrf import UnsafeUrl

from ..adapters import AuthError, RateLimited, TransientError, get_adapter
from ..models import BrandAccount, InboundEvent
from .brand_accounts import brand_account_data
from .inbound import inbound_processing_kick
from .outbound import HTTP_TIMEOUT, account_target_problem, platform_base_url

logger = logging.getLogger(__name__)

# How far back a backfill reaches.
BACKFILL_WINDOW = timedelta(days=30)


def account_polls(account: BrandAccount) -> bool:
    """Whether the account is read by polling rather than webhooks."""
    if account.platform in ("youtube", "wordpress"):
        return True
    # A Telegram bot without a webhook secret token is in getUpdates mode.
    return account.platform == "telegram" and not account.credentials.get("secret_token")


def account_supports_backfill(account: BrandAccount) -> bool:
    return bool(getattr(get_adapter(account.platform), "supports_history", False))


def _store(account: BrandAccount, raw_items: list[bytes]) -> int:
    """Store the items not stored before (a re-read page changes nothing); return how many."""
    by_hash = {hashlib.sha256(raw).hexdigest(): raw for raw in raw_items}
    known = set(
        InboundEvent.objects.filter(
            brand_account=account, body_sha256__in=list(by_hash)
        ).values_list("body_sha256", flat=True)
    )
    rows = [
        InboundEvent(
            workspace_id=account.workspace_id,
            brand_account=account,
            platform=account.platform,
            body=raw,
            body_sha256=digest,
            headers={},
        )
        for digest, raw in by_hash.items()
        if digest not in known
    ]
    InboundEvent.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _locked(account_id) -> BrandAccount | None:
    # skip_locked: another worker is already pulling this account; it will finish the job.
    return (
        BrandAccount.objects.select_for_update(skip_locked=True)
        .select_related("workspace")
        .filter(pk=account_id)
        .first()
    )


def _account_error(account: BrandAccount, message: str) -> None:
    account.status = "error"
    account.last_error = message[:2000]
    account.save(update_fields=["status", "last_error", "updated_at"])
    event_record(
        workspace=account.workspace, type="brand_account.updated", data=brand_account_data(account)
    )


def brand_account_poll(*, account_id, client: httpx.Client | None = None) -> int:
    """Fetch one page of new items of a polling account; returns how many were stored."""
    owns_client = client is None
    client = client or httpx.Client(timeout=HTTP_TIMEOUT)
    try:
        with transaction.atomic():
            account = _locked(account_id)
            if account is None or account.status != "active" or not account_polls(account):
                return 0
            problem = account_target_problem(account)
            if problem is not None:
                _account_error(account, f"{problem[0]}: {problem[1]}")
                return 0
            adapter = get_adapter(account.platform)
            try:
                result = adapter.poll(
                    client,
                    base_url=platform_base_url(account),
                    credentials=account.credentials,
                    account_external_id=account.external_id,
                    cursor=account.poll_cursor or None,
                )
            except (RateLimited, TransientError) as exc:
                logger.warning("polling %s deferred: %s", account.pk, exc)
                return 0
            except AuthError as exc:
                _account_error(account, f"credentials refused: {exc.message or exc}")
                return 0
            stored = _store(account, result.raw_items)
            account.poll_cursor = result.next_cursor
            account.save(update_fields=["poll_cursor", "updated_at"])
            if stored:
                inbound_processing_kick()
            return stored
    finally:
        if owns_client:
            client.close()


@transaction.atomic
def brand_account_backfill_start(*, actor: Actor, account: BrandAccount) -> BrandAccount:
    """Start (or restart) pulling the account's recent history; progress shows on it."""
    account = BrandAccount.objects.select_for_update().get(pk=account.pk)
    if not account_supports_backfill(account):
        raise PolicyRefusal(
            f"{account.platform} offers no API to read past conversations.",
            code="backfill_unavailable",
        )
    if account.backfill_status == "running":
        raise Conflict("A backfill of this account is already running.", code="backfill_running")
    account.backfill_status = "running"
    account.backfill_cursor = {}
    account.backfill_items = 0
    account.backfill_error = ""
    account.backfill_started_at = timezone.now()
    account.backfill_finished_at = None
    account.save()
    audit_record(
        actor=actor,
        action="brand_account.backfill_started",
        target_type="brand_account",
        target_id=account.pk,
    )
    event_record(
        workspace=account.workspace, type="brand_account.updated", data=brand_account_data(account)
    )
    account_id = account.pk

    def enqueue() -> None:
        from crm.tasks import task_enqueue

        from ..tasks import backfill_brand_account_task

        task_enqueue(backfill_brand_account_task, account_id=str(account_id))

    # robust: a broker hiccup must not fail the request; the user can start it again.
    transaction.on_commit(enqueue, robust=True)
    return account


def brand_account_backfill_step(*, account_id, client: httpx.Client | None = None) -> bool:
    """Fetch one page of history; returns True while there is more to fetch."""
    owns_client = client is None
    client = client or httpx.Client(timeout=HTTP_TIMEOUT)
    try:
        with transaction.atomic():
            account = _locked(account_id)
            if account is None or account.backfill_status != "running":
                return False
            adapter = get_adapter(account.platform)
            since = (account.backfill_started_at or timezone.now()) - BACKFILL_WINDOW
            try:
                problem = account_target_problem(account)
                if problem is not None:
                    raise UnsafeUrl(problem[1])
                result = adapter.history(
                    client,
                    base_url=platform_base_url(account),
                    credentials=account.credentials,
                    account_external_id=account.external_id,
                    cursor=account.backfill_cursor or None,
                    since=since,
                )
            except RateLimited:
                raise  # the task waits as long as the platform asks, then resumes here
            except Exception as exc:
                account.backfill_status = "failed"
                account.backfill_error = f"{type(exc).__name__}: {exc}"[:2000]
                account.backfill_finished_at = timezone.now()
                account.save()
                event_record(
                    workspace=account.workspace,
                    type="brand_account.updated",
                    data=brand_account_data(account),
                )
                return False
            account.backfill_items += _store(account, result.raw_items)
            account.backfill_cursor = result.next_cursor
            more = bool(result.next_cursor)
            if not more:
                account.backfill_status = "done"
                account.backfill_finished_at = timezone.now()
                event_record(
                    workspace=account.workspace,
                    type="brand_account.updated",
                    data=brand_account_data(account),
                )
            account.save()
            if result.raw_items:
                inbound_processing_kick()
            return more
    finally:
        if owns_client:
            client.close()
