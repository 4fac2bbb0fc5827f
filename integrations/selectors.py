"""Reads of the integrations app, always scoped to one workspace."""

from django.db.models import QuerySet

from crm.exceptions import NotFound
from crm.models import Workspace

from .models import BrandAccount, InboundEvent


def brand_account_list(*, workspace: Workspace) -> QuerySet[BrandAccount]:
    return BrandAccount.objects.filter(workspace=workspace)


def brand_account_get(*, workspace: Workspace, brand_account_id) -> BrandAccount:
    account = brand_account_list(workspace=workspace).filter(pk=brand_account_id).first()
    if account is None:
        raise NotFound("No such brand account.")
    return account


def inbound_event_list(
    *, workspace: Workspace, status: str | None = None
) -> QuerySet[InboundEvent]:
    """The workspace's raw inbound events, without their bodies, optionally by status."""
    queryset = InboundEvent.objects.filter(workspace=workspace).defer("body")
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def inbound_event_get(*, workspace: Workspace, inbound_event_id) -> InboundEvent:
    event = InboundEvent.objects.filter(workspace=workspace, pk=inbound_event_id).first()
    if event is None:
        raise NotFound("No such inbound event.")
    return event
