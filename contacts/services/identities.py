"""A contact's identities: added by hand, removed, or found-or-created by platform ingest."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from crm.actors import Actor
from crm.bulk import row_new, rows_insert, rows_insert_new
from crm.exceptions import Conflict, InvalidInput
from crm.models import Workspace
from crm.services.events import event_record
from integrations.models import PLATFORMS, BrandAccount

from .. import normalize
from ..models import Contact, Identity
from ..serializers import contact_data, contact_row_data
from .contacts import (
    contact_denormalize,
    contact_derived,
    contact_fresh,
    contact_touch,
    contact_write_check,
)

# Platforms whose user ids are scoped to one Page, app, integration or site (CHANNELS.md
# §9; a forum's or blog's users are its own): the same person has another id through
# another brand account, and the same id through two brand accounts may be two people.
# Other platforms' ids are global.
SCOPED_PLATFORMS = frozenset({"facebook", "instagram", "api", "discourse", "wordpress"})
# Imports know a handle, not the platform's id: such an identity is kept under this
# placeholder id until ingest sees the person and adopts it (``identity_resolve``).
PLACEHOLDER_PREFIX = "@"


def identity_scope(*, platform: str, brand_account: BrandAccount | None) -> tuple[str, Any]:
    """``(scope_key, brand_account)`` an identity of ``platform`` is unique under."""
    if platform not in PLATFORMS:
        raise InvalidInput("Unknown platform.", details={"platform": [f"One of {PLATFORMS}."]})
    if platform in SCOPED_PLATFORMS:
        if brand_account is None:
            raise InvalidInput(
                f"{platform} ids are scoped to a brand account; give brand_account.",
                details={"brand_account": ["Required for this platform."]},
            )
        if brand_account.platform != platform:
            raise InvalidInput(
                "The brand account is on another platform.",
                details={"brand_account": ["Must be on the identity's platform."]},
            )
        return str(brand_account.pk), brand_account
    return "", None


def _profile_changes(current: Callable[[str], Any], **fields: Any) -> dict[str, Any]:
    """The profile fields an event changes: given, and unlike ``current(field)``."""
    return {
        key: value
        for key, value in fields.items()
        # An event without the field (None, or "" but for the profile) says nothing of it.
        if value is not None and (key == "profile" or value != "") and current(key) != value
    }


def _profile_apply(identity: Identity, **fields: Any) -> bool:
    changes = _profile_changes(lambda key: getattr(identity, key), **fields)
    for key, value in changes.items():
        setattr(identity, key, value)
    if changes:
        identity.handle_key = normalize.handle_key(identity.handle)
    return bool(changes)


def identity_create(
    *,
    actor: Actor,
    contact: Contact,
    platform: str,
    external_id: str,
    brand_account: BrandAccount | None = None,
    handle: str = "",
    display_name: str = "",
    avatar_url: str = "",
    profile: dict | None = None,
) -> Identity:
    """Add an identity to a contact; 409 if the platform id already belongs to someone."""
    contact_write_check(actor=actor, contact=contact)
    if brand_account is not None and brand_account.workspace_id != actor.workspace.pk:
        raise InvalidInput("No such brand account.", details={"brand_account": ["Not found."]})
    scope_key, brand_account = identity_scope(platform=platform, brand_account=brand_account)
    try:
        with transaction.atomic():
            identity = Identity.objects.create(
                workspace=actor.workspace,
                contact=contact,
                platform=platform,
                external_id=external_id,
                brand_account=brand_account,
                scope_key=scope_key,
                handle=handle,
                handle_key=normalize.handle_key(handle),
                display_name=display_name,
                avatar_url=avatar_url,
                profile=profile or {},
            )
            contact_touch(workspace=actor.workspace, contact_id=contact.pk)
    except IntegrityError as exc:
        owner = (
            Identity.objects.filter(
                workspace=actor.workspace,
                platform=platform,
                scope_key=scope_key,
                external_id=external_id,
            )
            .values_list("contact_id", flat=True)
            .first()
        )
        raise Conflict(
            "This platform id already belongs to a contact; merge the contacts instead.",
            code="identity_exists",
            details={"contact": str(owner) if owner else None},
        ) from exc
    return identity


def identity_delete(*, actor: Actor, identity: Identity) -> None:
    """Remove an identity from its contact."""
    contact_write_check(actor=actor, contact=identity.contact)
    with transaction.atomic():
        contact_id = identity.contact_id
        identity.delete()
        contact_touch(workspace=actor.workspace, contact_id=contact_id)


def _live_contact(identity: Identity) -> Identity:
    # A merge moves identities in the same transaction that hides the duplicate, but a
    # reader that fetched the identity just before may hold the duplicate: follow it.
    contact = identity.contact
    hops = 0
    while contact.merged_into_id and hops < 10:
        contact = Contact.objects.get(pk=contact.merged_into_id)
        hops += 1
    identity.contact = contact
    return identity


def identity_resolve(
    *,
    workspace: Workspace,
    platform: str,
    external_id: str,
    brand_account: BrandAccount | None = None,
    handle: str = "",
    display_name: str = "",
    avatar_url: str = "",
    profile: dict | None = None,
) -> Identity:
    """The identity of a platform user, with its contact, found or created; for ingest.

    Idempotent and safe under concurrency: the unique constraint on ``(workspace,
    platform, scope, external_id)`` decides between racing creators; a loser's savepoint
    (with the contact it made) rolls back and it reads the winner's row. Profile fields
    given non-empty update the identity when they changed (and the contact's name if it
    had none), recording ``contact.updated``; a new person records ``contact.created``.
    ``brand_account`` is the account the user was seen through: it scopes Messenger
    PSIDs and Instagram IGSIDs, and is ignored for platforms with global ids.
    """
    if not external_id:
        raise InvalidInput("An identity needs the platform's id.")
    scope_key, brand_account = identity_scope(platform=platform, brand_account=brand_account)
    lookup = {
        "workspace": workspace,
        "platform": platform,
        "scope_key": scope_key,
        "external_id": str(external_id),
    }
    fields = {
        "handle": handle,
        "display_name": display_name,
        "avatar_url": avatar_url,
        "profile": profile,
    }
    for _attempt in range(3):
        identity = Identity.objects.select_related("contact").filter(**lookup).first()
        if identity is not None:
            return _identity_refresh(
                workspace=workspace, identity=_live_contact(identity), **fields
            )
        adopted = _placeholder_adopt(
            workspace=workspace, lookup=lookup, brand_account=brand_account, **fields
        )
        if adopted is not None:
            return adopted
        try:
            with transaction.atomic():
                contact = Contact(workspace=workspace, name=display_name or handle)
                identity = Identity(
                    contact=contact,
                    brand_account=brand_account,
                    handle=handle,
                    handle_key=normalize.handle_key(handle),
                    display_name=display_name,
                    avatar_url=avatar_url,
                    profile=profile or {},
                    **lookup,
                )
                contact_denormalize(contact, identities=[identity])
                contact.save()
                identity.save()
                contact = contact_fresh(contact.pk)
                event_record(
                    workspace=workspace, type="contact.created", data=contact_data(contact)
                )
                identity.contact = contact
                return identity
        except IntegrityError:
            continue  # another worker created it first: read theirs
    raise Conflict("The identity could not be resolved; retry.", code="identity_race")


def _identity_refresh(
    *,
    workspace: Workspace,
    identity: Identity,
    record: Callable[[str, dict], Any] | None = None,
    **fields: Any,
) -> Identity:
    """Apply a changed profile to the identity and its contact (``contact.updated``).

    ``record`` receives the event instead of the log, for a batch that records its
    events together.
    """
    if not _profile_apply(identity, **fields):
        return identity
    with transaction.atomic():
        identity.save(
            update_fields=["handle", "handle_key", "display_name", "avatar_url", "profile"]
        )
        contact = Contact.objects.select_for_update().get(pk=identity.contact_id)
        if not contact.name and not contact.erased_at:
            contact.name = identity.display_name or identity.handle
        contact.updated_at = timezone.now()
        contact_denormalize(contact)
        contact.save()
        contact = contact_fresh(contact.pk)
        if record is None:
            event_record(workspace=workspace, type="contact.updated", data=contact_data(contact))
        else:
            record("contact.updated", contact_data(contact))
    identity.contact = contact
    return identity


def _placeholder_adopt(
    *, workspace: Workspace, lookup: dict, brand_account: BrandAccount | None, **fields: Any
) -> Identity | None:
    key = normalize.handle_key(fields.get("handle"))
    if not key:
        return None
    with transaction.atomic():
        placeholder = (
            Identity.objects.select_for_update()
            .filter(
                workspace=workspace,
                platform=lookup["platform"],
                scope_key="",
                external_id=PLACEHOLDER_PREFIX + key,
            )
            .first()
        )
        if placeholder is None:
            return None
        placeholder.external_id = lookup["external_id"]
        placeholder.scope_key = lookup["scope_key"]
        placeholder.brand_account = brand_account
        try:
            with transaction.atomic():
                placeholder.save(update_fields=["external_id", "scope_key", "brand_account"])
        except IntegrityError:
            return None  # the real identity exists after all; the caller reads it
    placeholder = Identity.objects.select_related("contact").get(pk=placeholder.pk)
    return _identity_refresh(workspace=workspace, identity=_live_contact(placeholder), **fields)


@dataclass(frozen=True)
class IdentitySeen:
    """A platform user as one ingested event shows them (for ``identities_resolve_batch``)."""

    external_id: str
    handle: str = ""
    display_name: str = ""
    avatar_url: str = ""


# A batch's view of a person's contact: what its messages and conversations need.
CONTACT_SEEN_KEYS = ("id", "name", "email", "phone")


def _contact_seen(contact: Contact) -> dict[str, Any]:
    return {key: getattr(contact, key) for key in CONTACT_SEEN_KEYS}


def identities_resolve_batch(
    *,
    workspace: Workspace,
    platform: str,
    brand_account: BrandAccount | None,
    seen: Sequence[IdentitySeen],
) -> tuple[list[dict[str, Any] | None], list[list[tuple[str, dict]]]]:
    """``identity_resolve`` for many events at once, set-based; PostgreSQL only.

    Returns, aligned with ``seen``: each person's contact (its ``CONTACT_SEEN_KEYS``),
    and the events to record before that event's own (``contact.created`` where a person
    first appears, ``contact.updated`` where their profile changed), for the caller to
    record. The identities already known are read in one query, as rows; the new ones
    (and their contacts) are made in two inserts of rows; a changed profile is written by
    the per-event rule. ``None`` marks a user the per-event ``identity_resolve`` must
    handle: an imported placeholder to adopt, a contact merged away.

    Must run inside a savepoint: when another writer created one of the identities
    first, ``RowsConflict`` is raised and the caller rolls back and takes the per-event path.
    """
    scope_key, brand_account = identity_scope(platform=platform, brand_account=brand_account)
    lookup = {"workspace_id": workspace.pk, "platform": platform, "scope_key": scope_key}
    # Rows, not model instances: an identity whose profile changes is read again whole.
    known: dict[str, dict | Identity] = {
        row["external_id"]: row
        for row in Identity.objects.filter(
            **lookup, external_id__in={s.external_id for s in seen}
        ).values(
            "id",
            "external_id",
            "handle",
            "display_name",
            "avatar_url",
            "contact_id",
            contact_name=F("contact__name"),
            contact_email=F("contact__email"),
            contact_phone=F("contact__phone"),
            contact_merged_into_id=F("contact__merged_into_id"),
        )
    }
    handle_keys = {
        normalize.handle_key(s.handle) for s in seen if s.external_id not in known and s.handle
    }
    adoptable = set(
        Identity.objects.filter(
            workspace=workspace,
            platform=platform,
            scope_key="",
            external_id__in=[PLACEHOLDER_PREFIX + key for key in handle_keys if key],
        ).values_list("external_id", flat=True)
    )
    records: list[list[tuple[str, dict]]] = [[] for _ in seen]
    contacts: list[dict] = []
    created: list[dict] = []
    # New people, as the first event showing them says.
    for index, person in enumerate(seen):
        if person.external_id in known or (
            PLACEHOLDER_PREFIX + normalize.handle_key(person.handle) in adoptable
        ):
            continue
        name = person.display_name or person.handle
        contact = row_new(Contact, workspace_id=workspace.pk, name=name)
        identity = row_new(
            Identity,
            contact_id=contact["id"],
            brand_account_id=brand_account.pk if brand_account is not None else None,
            handle=person.handle,
            handle_key=normalize.handle_key(person.handle),
            display_name=person.display_name,
            avatar_url=person.avatar_url,
            profile={},
            external_id=person.external_id,
            **lookup,
        )
        contact.update(
            contact_derived(
                name=name,
                email=contact["email"],
                phone=contact["phone"],
                tags=contact["tags"],
                identities=[(person.handle, person.display_name)],
            )
        )
        records[index].append(("contact.created", contact_row_data(contact, [identity])))
        identity.update(
            contact_name=name,
            contact_email=contact["email"],
            contact_phone=contact["phone"],
            contact_merged_into_id=None,
        )
        known[person.external_id] = identity
        contacts.append(contact)
        created.append(identity)
    rows_insert(contacts, model=Contact)
    # In key order, so that two workers creating the same people wait, not deadlock.
    rows_insert_new(sorted(created, key=lambda identity: identity["external_id"]), model=Identity)
    # Then every event's view of its author, in order: a changed profile updates it.
    resolved: list[dict | None] = []
    for index, person in enumerate(seen):
        identity = known.get(person.external_id)
        if identity is None:
            resolved.append(None)
            continue
        fields = {
            "handle": person.handle,
            "display_name": person.display_name,
            "avatar_url": person.avatar_url,
        }
        if isinstance(identity, dict):
            if identity["contact_merged_into_id"]:
                resolved.append(None)
                continue
            if not _profile_changes(identity.__getitem__, **fields):
                resolved.append({key: identity[f"contact_{key}"] for key in CONTACT_SEEN_KEYS})
                continue
            identity = Identity.objects.select_related("contact").get(pk=identity["id"])
        identity = _identity_refresh(
            workspace=workspace,
            identity=identity,
            record=lambda kind, data, index=index: records[index].append((kind, data)),
            **fields,
        )
        known[person.external_id] = identity
        resolved.append(_contact_seen(identity.contact))
    return resolved, records
