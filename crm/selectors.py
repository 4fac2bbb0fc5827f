"""Reads of the crm app, always scoped to one workspace."""

from typing import Any

from django.db.models import Q, QuerySet

from .actors import Actor
from .authentication import ApiKeyUser
from .exceptions import NotFound
from .models import ApiKey, AuditLogEntry, Event, Membership, PersonalToken, Team, Workspace
from .process_cache import remembered
from .scopes import ADMIN, CONTACTS_READ, CONVERSATIONS_READ, WEBHOOKS_MANAGE


def actor_for_request(*, user: Any, workspace_slug: str) -> Actor:
    """The actor a request's credential makes in a workspace, or NotFound.

    A credential of another workspace gets NotFound, not a permission error, so that the
    existence of a workspace never leaks. A member's actor is remembered for a few
    seconds per process (``crm.process_cache``).
    """
    if isinstance(user, ApiKeyUser):
        api_key = user.api_key
        if api_key.workspace.slug != workspace_slug:
            raise NotFound("No such workspace.")
        return Actor.for_api_key(api_key)
    if user is None or not user.is_authenticated:
        raise NotFound("No such workspace.")

    def member_actor() -> Actor:
        membership = (
            Membership.objects.select_related("workspace", "user")
            .filter(user=user, workspace__slug=workspace_slug)
            .first()
        )
        if membership is None:
            raise NotFound("No such workspace.")
        return Actor.for_member(membership)

    # Remembered a few seconds per process, like the credential (crm.process_cache).
    return remembered(("member", user.pk, workspace_slug), member_actor)


def workspace_list_for_user(*, user) -> QuerySet[Membership]:
    """The memberships of a user, with their workspaces, by workspace name."""
    return (
        Membership.objects.select_related("workspace")
        .filter(user=user)
        .order_by("workspace__name", "workspace__slug")
    )


def member_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .prefetch_related("teams")
    )


def member_get(*, workspace: Workspace, member_id) -> Membership:
    member = member_list(workspace=workspace).filter(pk=member_id).first()
    if member is None:
        raise NotFound("No such member.")
    return member


def team_list(*, workspace: Workspace) -> QuerySet[Team]:
    return Team.objects.filter(workspace=workspace).prefetch_related("members")


def team_get(*, workspace: Workspace, team_id) -> Team:
    team = team_list(workspace=workspace).filter(pk=team_id).first()
    if team is None:
        raise NotFound("No such team.")
    return team


def api_key_list(*, workspace: Workspace) -> QuerySet[ApiKey]:
    """The workspace's keys that have not been revoked."""
    return ApiKey.objects.filter(workspace=workspace, revoked_at__isnull=True)


def api_key_get(*, workspace: Workspace, api_key_id) -> ApiKey:
    api_key = api_key_list(workspace=workspace).filter(pk=api_key_id).first()
    if api_key is None:
        raise NotFound("No such API key.")
    return api_key


def personal_token_list(*, user) -> QuerySet[PersonalToken]:
    return PersonalToken.objects.filter(user=user, revoked_at__isnull=True)


def personal_token_get(*, user, token_id) -> PersonalToken:
    token = personal_token_list(user=user).filter(pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    return token


def audit_log_list(*, workspace: Workspace) -> QuerySet[AuditLogEntry]:
    return AuditLogEntry.objects.filter(workspace=workspace)


# Which scope lets a credential read events of a type, by the type's prefix.
EVENT_TYPE_SCOPES = {
    "contact": CONTACTS_READ,
    "conversation": CONVERSATIONS_READ,
    "message": CONVERSATIONS_READ,
    "webhook": WEBHOOKS_MANAGE,
    "brand_account": ADMIN,
    "inbound_event": ADMIN,
}


def event_types_visible_prefixes(*, actor: Actor) -> list[str]:
    """The event type prefixes the actor may read."""
    return [prefix for prefix, scope in EVENT_TYPE_SCOPES.items() if actor.has_scope(scope)]


def event_list_after(*, actor: Actor, after: int, limit: int) -> list[Event]:
    """Up to ``limit`` events after ``seq``, in ``seq`` order, that the actor may read."""
    prefixes = event_types_visible_prefixes(actor=actor)
    qs = Event.objects.filter(workspace=actor.workspace, seq__gt=after).order_by("seq")
    if len(prefixes) < len(EVENT_TYPE_SCOPES):
        condition = Q(pk__in=[])
        for prefix in prefixes:
            condition |= Q(type__startswith=f"{prefix}.")
        qs = qs.filter(condition)
    return list(qs[:limit])
