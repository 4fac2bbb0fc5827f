"""Creating, changing and deleting contacts; the derived search columns; who may write."""

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import Conflict, Forbidden, InvalidInput
from crm.models import Membership, Workspace
from crm.scopes import ROLE_SALES
from crm.services.audit import audit_record
from crm.services.events import event_record

from .. import normalize
from ..models import LIFECYCLE_CHOICES, Contact, Identity
from ..serializers import contact_data
from .attributes import attributes_apply

LIFECYCLE_STAGES = tuple(value for value, _ in LIFECYCLE_CHOICES)
TAG_MAX_LENGTH = 64
TAGS_MAX = 100
CONTACT_FIELDS = ("name", "email", "phone", "company", "lifecycle_stage")


# --- Who may write ------------------------------------------------------------------------


def actor_is_sales(actor: Actor) -> bool:
    """Sales members hold contacts:write but may only change the contacts they own."""
    return actor.role == ROLE_SALES


def contact_write_check(*, actor: Actor, contact: Contact) -> None:
    """Forbidden unless the actor may change this contact (sales: only their own)."""
    if actor_is_sales(actor) and (
        actor.membership is None or contact.owner_id != actor.membership.pk
    ):
        raise Forbidden("Sales members change only the contacts they own.")


def workspace_wide_write_check(*, actor: Actor, action: str) -> None:
    """Forbidden for sales: merges, imports, erasure and deletion touch others' contacts."""
    if actor_is_sales(actor):
        raise Forbidden(f"Sales members cannot {action}.")


# --- Derived columns ----------------------------------------------------------------------


def contact_derived(
    *, name: str, email: str, phone: str, tags: list, identities: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """A contact's derived search and filter columns (``search_text``, ``phone_key``,
    ``tag_keys``) from its values and its identities' ``(handle, display_name)``."""
    parts = [name, email, phone, normalize.phone_digits(phone)]
    for handle, display_name in identities:
        parts += [handle, display_name]
    return {
        "search_text": " | ".join(normalize.fold(p) for p in parts if p),
        "phone_key": normalize.phone_digits(phone),
        "tag_keys": normalize.tags_key(tags),
    }


def contact_denormalize(contact: Contact, *, identities: list[Identity] | None = None) -> None:
    """Recompute the contact's derived search and filter columns (not saved)."""
    if identities is None:
        identities = list(Identity.objects.filter(contact_id=contact.pk))
    derived = contact_derived(
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        tags=contact.tags,
        identities=[(identity.handle, identity.display_name) for identity in identities],
    )
    for column, value in derived.items():
        setattr(contact, column, value)


def contact_refresh(contact: Contact) -> Contact:
    """Recompute and save the derived columns, e.g. after its identities changed."""
    contact_denormalize(contact)
    Contact.objects.filter(pk=contact.pk).update(
        search_text=contact.search_text, phone_key=contact.phone_key, tag_keys=contact.tag_keys
    )
    return contact


def contact_fresh(contact_id) -> Contact:
    """The contact re-read with its identities, as events and responses show it."""
    return Contact.objects.prefetch_related("identities").get(pk=contact_id)


# --- Validation ---------------------------------------------------------------------------


def tags_clean(tags: list[str]) -> list[str]:
    """Tags trimmed and deduplicated case-insensitively, first spelling kept."""
    seen: dict[str, str] = {}
    for raw in tags:
        tag = normalize.tag_clean(raw)
        if not tag:
            continue
        if len(tag) > TAG_MAX_LENGTH or "|" in tag:
            raise InvalidInput(
                "Invalid tag.",
                details={"tags": [f"At most {TAG_MAX_LENGTH} characters, without '|'."]},
            )
        seen.setdefault(normalize.fold(tag), tag)
    if len(seen) > TAGS_MAX:
        raise InvalidInput("Too many tags.", details={"tags": [f"At most {TAGS_MAX}."]})
    return list(seen.values())


def phone_clean(phone: str) -> str:
    phone = (phone or "").strip()
    if phone and not normalize.looks_like_phone(phone):
        raise InvalidInput(
            "Invalid phone number.", details={"phone": ["Digits, spaces and + ( ) - . only."]}
        )
    return phone


def owner_resolve(*, workspace: Workspace, owner: Any) -> Membership | None:
    """The member an ``owner`` value names (a membership id), in this workspace."""
    if owner in (None, ""):
        return None
    if isinstance(owner, Membership):
        membership = owner if owner.workspace_id == workspace.pk else None
    else:
        membership = Membership.objects.filter(workspace=workspace, pk=owner).first()
    if membership is None:
        raise InvalidInput("No such member.", details={"owner": ["No such member."]})
    return membership


def _fields_clean(*, workspace: Workspace, fields: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    if "email" in cleaned:
        cleaned["email"] = normalize.email_key(cleaned["email"])
    if "phone" in cleaned:
        cleaned["phone"] = phone_clean(cleaned["phone"])
    if "lifecycle_stage" in cleaned and cleaned["lifecycle_stage"] not in ("", *LIFECYCLE_STAGES):
        raise InvalidInput(
            "Invalid lifecycle stage.",
            details={"lifecycle_stage": [f"One of {LIFECYCLE_STAGES}."]},
        )
    for key in ("name", "company", "email", "phone", "lifecycle_stage"):
        if key in cleaned and cleaned[key] is None:
            cleaned[key] = ""
    if "tags" in cleaned:
        cleaned["tags"] = tags_clean(cleaned["tags"] or [])
    if "owner" in cleaned:
        cleaned["owner"] = owner_resolve(workspace=workspace, owner=cleaned["owner"])
    return cleaned


def _owner_check(*, actor: Actor, owner: Membership | None) -> None:
    if actor_is_sales(actor) and owner is not None and owner.pk != actor.membership.pk:
        raise Forbidden("Sales members cannot give contacts to someone else.")


# --- Writes -------------------------------------------------------------------------------


def contact_create(
    *,
    actor: Actor,
    name: str = "",
    email: str = "",
    phone: str = "",
    company: str = "",
    lifecycle_stage: str = "",
    owner: Any = None,
    tags: list[str] | None = None,
    attributes: dict[str, Any] | None = None,
) -> Contact:
    """Create a contact; a sales member's contact is theirs unless they name no one else."""
    workspace = actor.workspace
    cleaned = _fields_clean(
        workspace=workspace,
        fields={
            "name": name,
            "email": email,
            "phone": phone,
            "company": company,
            "lifecycle_stage": lifecycle_stage,
            "owner": owner,
            "tags": tags or [],
        },
    )
    if actor_is_sales(actor) and cleaned["owner"] is None:
        cleaned["owner"] = actor.membership
    _owner_check(actor=actor, owner=cleaned["owner"])
    cleaned["attributes"] = attributes_apply(
        workspace=workspace, current={}, changes=attributes or {}
    )
    with transaction.atomic():
        contact = Contact(workspace=workspace, **cleaned)
        contact_denormalize(contact, identities=[])
        contact.save()
        contact = contact_fresh(contact.pk)
        event_record(workspace=workspace, type="contact.created", data=contact_data(contact))
    return contact


def contact_update(*, actor: Actor, contact: Contact, **changes: Any) -> Contact:
    """Change a contact's fields; ``attributes`` merges (a null value removes the key)."""
    contact_write_check(actor=actor, contact=contact)
    unknown = set(changes) - {*CONTACT_FIELDS, "owner", "tags", "attributes"}
    if unknown:
        raise InvalidInput(f"Unknown fields: {sorted(unknown)}.")
    attribute_changes = changes.pop("attributes", None)
    cleaned = _fields_clean(workspace=actor.workspace, fields=changes)
    if "owner" in cleaned:
        _owner_check(actor=actor, owner=cleaned["owner"])
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        if contact.merged_into_id or contact.erased_at:
            raise Conflict("This contact was merged or erased.", code="contact_unavailable")
        for key, value in cleaned.items():
            setattr(contact, key, value)
        if attribute_changes:
            contact.attributes = attributes_apply(
                workspace=actor.workspace, current=contact.attributes, changes=attribute_changes
            )
        contact.updated_at = timezone.now()
        contact_denormalize(contact)
        contact.save()
        contact = contact_fresh(contact.pk)
        event_record(workspace=actor.workspace, type="contact.updated", data=contact_data(contact))
    return contact


def contact_touch(*, workspace: Workspace, contact_id) -> Contact:
    """Bump ``updated_at`` and record ``contact.updated`` (identities or notes changed)."""
    Contact.objects.filter(pk=contact_id).update(updated_at=timezone.now())
    contact = contact_fresh(contact_id)
    contact_refresh(contact)
    event_record(workspace=workspace, type="contact.updated", data=contact_data(contact))
    return contact


def contact_delete(*, actor: Actor, contact: Contact) -> None:
    """Delete a contact with its identities and notes.

    A contact with conversations is not deleted: that would delete the brand's history
    and its reports. Erase the person's data instead (``contact_erase``), or merge.
    """
    workspace_wide_write_check(actor=actor, action="delete contacts")
    from conversations.models import Conversation

    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        if Conversation.objects.filter(contact_id=contact.pk).exists():
            raise Conflict(
                "This contact has conversations; erase or merge it instead.",
                code="contact_has_conversations",
            )
        if Contact.objects.filter(merged_into_id=contact.pk).exists():
            raise Conflict(
                "Contacts are merged into this one; unmerge them first.",
                code="contact_has_merges",
            )
        contact_id = str(contact.pk)
        contact.delete()
        audit_record(
            actor=actor, action="contact.deleted", target_type="contact", target_id=contact_id
        )
        event_record(workspace=actor.workspace, type="contact.deleted", data={"id": contact_id})
