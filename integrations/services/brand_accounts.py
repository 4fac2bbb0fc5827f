"""Brand accounts: connect, change and disconnect a brand's platform accounts."""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import Conflict, InvalidInput
from crm.services.audit import audit_record
from crm.services.events import event_record
from crm.times import iso
from crm.webhooks.ssrf import UnsafeUrl, target_resolve

from ..credentials import (
    SITE_PLATFORMS,
    credentials_missing,
    credentials_unknown,
    site_url_problem,
)
from ..models import PLATFORMS, BrandAccount


def brand_account_data(account: BrandAccount) -> dict[str, Any]:
    """The brand account as the REST API shows it (credentials never included)."""
    return {
        "id": str(account.pk),
        "platform": account.platform,
        "name": account.name,
        "external_id": account.external_id,
        "status": account.status,
        "webhook_url": account.webhook_url,
        "last_error": account.last_error,
        "backfill": {
            "status": account.backfill_status,
            "items": account.backfill_items,
            "started_at": iso(account.backfill_started_at),
            "finished_at": iso(account.backfill_finished_at),
            "error": account.backfill_error,
        },
        "created_at": iso(account.created_at),
    }


def _credentials_validate(platform: str, credentials: dict) -> None:
    problems: dict[str, list[str]] = {}
    for key in credentials_missing(platform, credentials):
        problems[key] = [f"Required for {platform}."]
    for key in credentials_unknown(platform, credentials):
        problems[key] = [f"Not a {platform} credential."]
    if not all(isinstance(v, str | int) for v in credentials.values()):
        problems["credentials"] = ["Credential values are strings."]
    if platform == "api" and credentials.get("callback_url"):
        # Replies are POSTed there: the same guard as outbound webhooks.
        try:
            target_resolve(str(credentials["callback_url"]))
        except UnsafeUrl as exc:
            problems["callback_url"] = [str(exc)]
    if problems:
        raise InvalidInput(
            "The credentials are incomplete or wrong.", details={"credentials": problems}
        )


def _save(account: BrandAccount) -> None:
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:
        raise Conflict(
            f"This workspace already has the {account.platform} account {account.external_id}.",
            code="brand_account_exists",
        ) from exc


@transaction.atomic
def brand_account_create(
    *,
    actor: Actor,
    platform: str,
    name: str,
    external_id: str,
    credentials: dict,
    backfill: bool = True,
) -> BrandAccount:
    """Connect a platform account with its credentials (encrypted at rest).

    Where the platform has a history API, connecting also starts the backfill of the
    recent history, unless ``backfill`` is False.
    """
    if platform not in PLATFORMS:
        raise InvalidInput("Unknown platform.", details={"platform": [f"{platform!r}"]})
    _credentials_validate(platform, credentials)
    if platform in SITE_PLATFORMS:
        problem = site_url_problem(external_id)
        if problem:
            raise InvalidInput(
                f"A {platform} account's external_id is the site's base URL.",
                details={"external_id": [problem]},
            )
        # One spelling per site: the API paths are joined to it, and the unique
        # constraint must see https://forum.example.com/ and …com as one account.
        external_id = external_id.rstrip("/")
    account = BrandAccount(
        workspace=actor.workspace,
        platform=platform,
        name=name,
        external_id=external_id,
        credentials=credentials,
    )
    _save(account)
    audit_record(
        actor=actor,
        action="brand_account.created",
        target_type="brand_account",
        target_id=account.pk,
        # Credential names only: their values are never written anywhere in clear.
        details={
            "platform": platform,
            "external_id": external_id,
            "credentials": sorted(credentials),
        },
    )
    event_record(
        workspace=actor.workspace, type="brand_account.updated", data=brand_account_data(account)
    )
    from .polling import account_supports_backfill, brand_account_backfill_start

    if backfill and account_supports_backfill(account):
        # Connecting an account brings its recent history in, not only what comes next.
        account = brand_account_backfill_start(actor=actor, account=account)
    return account


@transaction.atomic
def brand_account_update(
    *,
    actor: Actor,
    account: BrandAccount,
    name: str | None = None,
    status: str | None = None,
    credentials: dict | None = None,
) -> BrandAccount:
    """Rename, enable/disable, or replace credentials (merged over the stored ones)."""
    account = BrandAccount.objects.select_for_update().get(pk=account.pk)
    changes: dict[str, Any] = {}
    if name is not None and name != account.name:
        changes["name"] = [account.name, name]
        account.name = name
    if status is not None and status != account.status:
        if status not in ("active", "disabled"):
            raise InvalidInput(
                "A brand account is set active or disabled.",
                details={"status": ["Must be 'active' or 'disabled'."]},
            )
        changes["status"] = [account.status, status]
        account.status = status
        if status == "active":
            account.last_error = ""
    if credentials:
        merged = {**account.credentials, **credentials}
        _credentials_validate(account.platform, merged)
        account.credentials = merged
        changes["credentials"] = sorted(credentials)
    if changes:
        account.updated_at = timezone.now()
        account.save()
        audit_record(
            actor=actor,
            action="brand_account.updated",
            target_type="brand_account",
            target_id=account.pk,
            details=changes,
        )
        event_record(
            workspace=actor.workspace,
            type="brand_account.updated",
            data=brand_account_data(account),
        )
    return account


@transaction.atomic
def brand_account_delete(*, actor: Actor, account: BrandAccount) -> None:
    """Disconnect an account; its conversations and messages stay."""
    audit_record(
        actor=actor,
        action="brand_account.deleted",
        target_type="brand_account",
        target_id=account.pk,
        details={"platform": account.platform, "external_id": account.external_id},
    )
    account.delete()
