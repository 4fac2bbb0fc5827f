"""Workspaces, members, teams and API keys."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from .. import scopes
from ..actors import Actor
from ..exceptions import Conflict, Forbidden, InvalidInput
from ..models import ApiKey, EventSequence, Membership, PersonalToken, Team, User, Workspace
from ..times import iso
from .audit import audit_record
from .tokens import API_KEY_KIND, PERSONAL_TOKEN_KIND, token_issue

RESERVED_SLUGS = frozenset({"new", "me", "api", "admin", "static", "ws"})


@dataclass(frozen=True)
class CreatedWorkspace:
    workspace: Workspace
    owner: Membership
    api_key: ApiKey
    token: str


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    token: str


def _slug_validate(slug: str) -> str:
    if not slug or slugify(slug) != slug or slug in RESERVED_SLUGS or len(slug) > 63:
        raise InvalidInput(
            "A workspace slug is 1-63 lowercase letters, digits and hyphens.",
            details={"slug": [f"{slug!r} is not a valid workspace slug."]},
        )
    return slug


def user_get_or_create(*, email: str, name: str = "", password: str | None = None) -> User:
    """The user with this email, created (with an unusable password unless given) if new."""
    email = User.objects.normalize_email(email).strip().lower()
    user = User.objects.filter(email=email).first()
    if user is None:
        if password:
            try:
                validate_password(password)
            except DjangoValidationError as exc:
                raise InvalidInput(
                    "The password is too weak.", details={"password": list(exc.messages)}
                ) from exc
        user = User.objects.create_user(email=email, password=password or None, name=name)
    return user


@transaction.atomic
def workspace_create(
    *, slug: str, name: str, owner_email: str, owner_password: str | None = None
) -> CreatedWorkspace:
    """Create a workspace, its owner and an all-scopes API key (shown once)."""
    _slug_validate(slug)
    if Workspace.objects.filter(slug=slug).exists():
        raise Conflict(f"The workspace {slug!r} already exists.", code="workspace_exists")
    workspace = Workspace.objects.create(slug=slug, name=name or slug)
    EventSequence.objects.create(workspace=workspace)
    user = user_get_or_create(email=owner_email, password=owner_password)
    owner = Membership.objects.create(workspace=workspace, user=user, role=scopes.ROLE_OWNER)
    actor = Actor.for_member(owner)
    created = api_key_create(
        actor=actor, name="Owner key", key_scopes=list(scopes.ALL_SCOPES), expires_at=None
    )
    audit_record(actor=actor, action="workspace.created", target_type="workspace", target_id=slug)
    return CreatedWorkspace(
        workspace=workspace, owner=owner, api_key=created.api_key, token=created.token
    )


def workspace_update(*, actor: Actor, name: str) -> Workspace:
    """Rename the actor's workspace."""
    workspace = actor.workspace
    with transaction.atomic():
        old = workspace.name
        workspace.name = name
        workspace.save(update_fields=["name"])
        audit_record(
            actor=actor,
            action="workspace.updated",
            target_type="workspace",
            target_id=workspace.slug,
            details={"name": [old, name]},
        )
    return workspace


# --- Members ----------------------------------------------------------------------------


def _role_change_allowed(*, actor: Actor, old_role: str | None, new_role: str | None) -> None:
    # Only owners make or unmake owners: an admin cannot take over the workspace.
    touches_owner = scopes.ROLE_OWNER in (old_role, new_role)
    if touches_owner and actor.kind != "system" and actor.role != scopes.ROLE_OWNER:
        raise Forbidden("Only an owner can grant or remove the owner role.")


def _last_owner_guard(*, membership: Membership) -> None:
    if membership.role != scopes.ROLE_OWNER:
        return
    owners = Membership.objects.filter(workspace_id=membership.workspace_id, role="owner")
    if owners.exclude(pk=membership.pk).count() == 0:
        raise Conflict("A workspace keeps at least one owner.", code="last_owner")


@transaction.atomic
def member_add(
    *, actor: Actor, email: str, role: str, name: str = "", password: str | None = None
) -> Membership:
    """Add a person (created if new) to the actor's workspace with a role."""
    _role_change_allowed(actor=actor, old_role=None, new_role=role)
    user = user_get_or_create(email=email, name=name, password=password)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(workspace=actor.workspace, user=user, role=role)
    except IntegrityError as exc:
        raise Conflict(
            f"{user.email} is already a member of this workspace.", code="already_member"
        ) from exc
    audit_record(
        actor=actor,
        action="member.added",
        target_type="member",
        target_id=membership.pk,
        details={"email": user.email, "role": role},
    )
    return membership


@transaction.atomic
def member_update(
    *, actor: Actor, membership: Membership, role: str | None = None, is_available=None
) -> Membership:
    """Change a member's role or availability for assignment."""
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    changes: dict[str, list] = {}
    if role is not None and role != membership.role:
        _role_change_allowed(actor=actor, old_role=membership.role, new_role=role)
        _last_owner_guard(membership=membership)
        changes["role"] = [membership.role, role]
        membership.role = role
    if is_available is not None and is_available != membership.is_available:
        changes["is_available"] = [membership.is_available, is_available]
        membership.is_available = is_available
    if changes:
        membership.save(update_fields=["role", "is_available"])
        audit_record(
            actor=actor,
            action="member.updated",
            target_type="member",
            target_id=membership.pk,
            details=changes,
        )
    return membership


@transaction.atomic
def member_remove(*, actor: Actor, membership: Membership) -> None:
    """Remove a member from the workspace (the user and other workspaces are untouched)."""
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _role_change_allowed(actor=actor, old_role=membership.role, new_role=None)
    _last_owner_guard(membership=membership)
    audit_record(
        actor=actor,
        action="member.removed",
        target_type="member",
        target_id=membership.pk,
        details={"email": membership.user.email, "role": membership.role},
    )
    membership.delete()


# --- Teams ------------------------------------------------------------------------------


def _team_members_resolve(*, actor: Actor, member_ids: Iterable) -> list[Membership]:
    member_ids = list(dict.fromkeys(str(m) for m in member_ids))
    members = list(Membership.objects.filter(workspace=actor.workspace, pk__in=member_ids))
    if len(members) != len(member_ids):
        found = {str(m.pk) for m in members}
        missing = [m for m in member_ids if m not in found]
        raise InvalidInput(
            "Some members are not in this workspace.",
            details={"members": [f"Unknown member {m}." for m in missing]},
        )
    return members


def _team_save(team: Team) -> None:
    try:
        with transaction.atomic():
            team.save()
    except IntegrityError as exc:
        raise Conflict(f"A team named {team.name!r} already exists.", code="team_exists") from exc


@transaction.atomic
def team_create(*, actor: Actor, name: str, member_ids: Iterable = ()) -> Team:
    """Create a team with its members."""
    members = _team_members_resolve(actor=actor, member_ids=member_ids)
    team = Team(workspace=actor.workspace, name=name)
    _team_save(team)
    team.members.set(members)
    audit_record(
        actor=actor,
        action="team.created",
        target_type="team",
        target_id=team.pk,
        details={"name": name, "members": [str(m.pk) for m in members]},
    )
    return team


@transaction.atomic
def team_update(
    *, actor: Actor, team: Team, name: str | None = None, member_ids: Iterable | None = None
) -> Team:
    """Rename a team or replace its members."""
    changes: dict[str, object] = {}
    if name is not None and name != team.name:
        changes["name"] = [team.name, name]
        team.name = name
        _team_save(team)
    if member_ids is not None:
        members = _team_members_resolve(actor=actor, member_ids=member_ids)
        team.members.set(members)
        changes["members"] = [str(m.pk) for m in members]
    if changes:
        audit_record(
            actor=actor,
            action="team.updated",
            target_type="team",
            target_id=team.pk,
            details=changes,
        )
    return team


@transaction.atomic
def team_delete(*, actor: Actor, team: Team) -> None:
    """Delete a team; its conversations stay, without a team."""
    audit_record(
        actor=actor,
        action="team.deleted",
        target_type="team",
        target_id=team.pk,
        details={"name": team.name},
    )
    team.delete()


# --- API keys and personal tokens -------------------------------------------------------


def _scopes_validate(*, actor: Actor, key_scopes: Iterable[str]) -> list[str]:
    key_scopes = list(dict.fromkeys(key_scopes))
    unknown = [s for s in key_scopes if s not in scopes.ALL_SCOPES]
    if unknown:
        raise InvalidInput(
            "Unknown scopes.", details={"scopes": [f"Unknown scope {s!r}." for s in unknown]}
        )
    if not key_scopes:
        raise InvalidInput("A key needs at least one scope.", details={"scopes": ["Empty."]})
    beyond = [s for s in key_scopes if not actor.has_scope(s)]
    if beyond:
        raise Forbidden(
            "A key cannot have scopes its creator does not have.",
            details={"scopes": beyond},
        )
    return key_scopes


def _expiry_validate(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput(
            "The expiry date is in the past.", details={"expires_at": ["Must be in the future."]}
        )


@transaction.atomic
def api_key_create(
    *, actor: Actor, name: str, key_scopes: Iterable[str], expires_at: datetime | None
) -> CreatedKey:
    """Create a workspace API key; the token is returned here and never again."""
    key_scopes = _scopes_validate(actor=actor, key_scopes=key_scopes)
    _expiry_validate(expires_at)
    issued = token_issue(kind=API_KEY_KIND)
    api_key = ApiKey.objects.create(
        workspace=actor.workspace,
        name=name,
        prefix=issued.prefix,
        key_hash=issued.key_hash,
        scopes=key_scopes,
        expires_at=expires_at,
        created_by=actor.membership.user if actor.membership else None,
    )
    audit_record(
        actor=actor,
        action="api_key.created",
        target_type="api_key",
        target_id=api_key.pk,
        details={"name": name, "prefix": api_key.prefix, "scopes": key_scopes},
    )
    return CreatedKey(api_key=api_key, token=issued.token)


_UNSET = object()


@transaction.atomic
def api_key_update(
    *,
    actor: Actor,
    api_key: ApiKey,
    name: str | None = None,
    key_scopes: Iterable[str] | None = None,
    expires_at=_UNSET,
) -> ApiKey:
    """Rename a key, change its scopes or its expiry."""
    changes: dict[str, list] = {}
    if name is not None and name != api_key.name:
        changes["name"] = [api_key.name, name]
        api_key.name = name
    if key_scopes is not None:
        key_scopes = _scopes_validate(actor=actor, key_scopes=key_scopes)
        if key_scopes != api_key.scopes:
            changes["scopes"] = [api_key.scopes, key_scopes]
            api_key.scopes = key_scopes
    if expires_at is not _UNSET and expires_at != api_key.expires_at:
        _expiry_validate(expires_at)
        changes["expires_at"] = [iso(api_key.expires_at), iso(expires_at)]
        api_key.expires_at = expires_at
    if changes:
        api_key.save()
        audit_record(
            actor=actor,
            action="api_key.updated",
            target_type="api_key",
            target_id=api_key.pk,
            details=changes,
        )
    return api_key


@transaction.atomic
def api_key_revoke(*, actor: Actor, api_key: ApiKey) -> None:
    """Revoke a key at once; it stays listed in the audit log, never usable again."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_key.revoked",
            target_type="api_key",
            target_id=api_key.pk,
            details={"name": api_key.name, "prefix": api_key.prefix},
        )


def personal_token_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[PersonalToken, str]:
    """Create a member's personal token; the token is returned here and never again."""
    _expiry_validate(expires_at)
    issued = token_issue(kind=PERSONAL_TOKEN_KIND)
    token = PersonalToken.objects.create(
        user=user,
        name=name,
        prefix=issued.prefix,
        key_hash=issued.key_hash,
        expires_at=expires_at,
    )
    return token, issued.token


def personal_token_revoke(*, token: PersonalToken) -> None:
    """Revoke a personal token at once."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
