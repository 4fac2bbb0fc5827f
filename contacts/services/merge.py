"""Merging two contacts of one person, and undoing a merge.

A merge moves the duplicate's identities, conversations and notes onto the primary, adds
its tags and fills the primary's empty fields from it, and records exactly that in a
``ContactMerge``. The duplicate's row is kept, hidden (``merged_into``), so that an
unmerge brings it back as it was. Unmerge moves back only what the merge moved and
reverts only what still holds the merged value, so later activity on the primary (new
notes, new conversations, fields edited since) stays where it happened.

Both lock the two contacts with ``SELECT ... FOR UPDATE`` in primary-key order, so two
concurrent merges touching the same contacts serialize instead of deadlocking, and the
second one sees the first's result (and is refused if it no longer makes sense).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import Conflict, InvalidInput, NotFound
from crm.services.audit import audit_record
from crm.services.events import events_record

from ..models import Contact, ContactMerge, Identity, Note
from ..serializers import contact_data
from .contacts import CONTACT_FIELDS, contact_denormalize, contact_fresh, workspace_wide_write_check


@dataclass(frozen=True)
class MergeResult:
    merge: ContactMerge
    contact: Contact  # the primary, as it is after the merge or unmerge
    restored: Contact | None = None  # the duplicate an unmerge brought back


def _lock_pair(*, workspace, ids: list) -> dict[str, Contact]:
    # pk order: every transaction takes the two row locks in the same order, so two merges
    # of the same pair (in either direction) queue rather than deadlock.
    locked = (
        Contact.objects.select_for_update().filter(workspace=workspace, pk__in=ids).order_by("pk")
    )
    return {str(c.pk): c for c in locked}


def _conversation_model():
    from conversations.models import Conversation

    return Conversation


def _conversation_events(ids: list[str]) -> list[tuple[str, dict]]:
    # A moved conversation's ``contact`` changed: clients of conversation events see it.
    if not ids:
        return []
    from conversations.representations import conversation_data

    Conversation = _conversation_model()
    moved = (
        Conversation.objects.filter(pk__in=ids)
        .select_related("contact")
        .prefetch_related("labels")
        .order_by("pk")
    )
    return [("conversation.updated", conversation_data(c)) for c in moved]


def contacts_merge(*, actor: Actor, primary_id, duplicate_id) -> MergeResult:
    """Merge ``duplicate`` into ``primary`` and record what moved; audited.

    Records ``contact.merged`` (``{"primary", "duplicate", "merge"}``) and
    ``contact.updated`` for the primary.
    """
    workspace_wide_write_check(actor=actor, action="merge contacts")
    primary_id, duplicate_id = str(primary_id), str(duplicate_id)
    if primary_id == duplicate_id:
        raise InvalidInput("A contact cannot be merged into itself.")
    Conversation = _conversation_model()
    with transaction.atomic():
        locked = _lock_pair(workspace=actor.workspace, ids=[primary_id, duplicate_id])
        primary, duplicate = locked.get(primary_id), locked.get(duplicate_id)
        if primary is None or duplicate is None:
            raise NotFound("No such contact.")
        for contact in (primary, duplicate):
            if contact.merged_into_id:
                raise Conflict(
                    f"The contact {contact.pk} is already merged into another one.",
                    code="contact_merged",
                    details={
                        "contact": str(contact.pk),
                        "merged_into": str(contact.merged_into_id),
                    },
                )
            if contact.erased_at:
                raise Conflict("An erased contact cannot be merged.", code="contact_erased")

        identity_ids = [
            str(pk)
            for pk in Identity.objects.filter(contact=duplicate).values_list("pk", flat=True)
        ]
        conversation_ids = [
            str(pk)
            for pk in Conversation.objects.filter(contact=duplicate).values_list("pk", flat=True)
        ]
        note_ids = [
            str(pk) for pk in Note.objects.filter(contact=duplicate).values_list("pk", flat=True)
        ]
        Identity.objects.filter(pk__in=identity_ids).update(contact=primary)
        Conversation.objects.filter(pk__in=conversation_ids).update(contact=primary)
        Note.objects.filter(pk__in=note_ids).update(contact=primary)

        before = {f: getattr(primary, f) for f in CONTACT_FIELDS}
        before.update(
            owner=str(primary.owner_id) if primary.owner_id else None,
            tags=list(primary.tags),
            attributes=dict(primary.attributes),
        )
        fields_filled = {}
        for field in CONTACT_FIELDS:
            if not getattr(primary, field) and getattr(duplicate, field):
                fields_filled[field] = getattr(duplicate, field)
                setattr(primary, field, getattr(duplicate, field))
        if primary.owner_id is None and duplicate.owner_id is not None:
            fields_filled["owner"] = str(duplicate.owner_id)
            primary.owner_id = duplicate.owner_id
        primary_tags = {t.casefold() for t in primary.tags}
        tags_added = [t for t in duplicate.tags if t.casefold() not in primary_tags]
        primary.tags = [*primary.tags, *tags_added]
        attributes_filled = {
            k: v for k, v in duplicate.attributes.items() if k not in primary.attributes
        }
        primary.attributes = {**primary.attributes, **attributes_filled}

        now = timezone.now()
        primary.updated_at = now
        contact_denormalize(primary)
        primary.save()
        duplicate.merged_into = primary
        duplicate.updated_at = now
        duplicate.save(update_fields=["merged_into", "updated_at"])

        merge = ContactMerge.objects.create(
            workspace=actor.workspace,
            primary=primary,
            duplicate=duplicate,
            moved={
                "identities": identity_ids,
                "conversations": conversation_ids,
                "notes": note_ids,
                "tags": tags_added,
                "fields": fields_filled,
                "attributes": attributes_filled,
            },
            primary_before=before,
            actor_type=actor.kind,
            actor_id=actor.id,
        )
        audit_record(
            actor=actor,
            action="contact.merged",
            target_type="contact",
            target_id=primary.pk,
            details={
                "merge": str(merge.pk),
                "duplicate": duplicate_id,
                "identities": len(identity_ids),
                "conversations": len(conversation_ids),
                "notes": len(note_ids),
                "tags": len(tags_added),
                "fields": sorted(fields_filled),
                "attributes": sorted(attributes_filled),
            },
        )
        primary = contact_fresh(primary.pk)
        events_record(
            workspace=actor.workspace,
            items=[
                (
                    "contact.merged",
                    {"primary": primary_id, "duplicate": duplicate_id, "merge": str(merge.pk)},
                ),
                ("contact.updated", contact_data(primary)),
                *_conversation_events(conversation_ids),
            ],
        )
    return MergeResult(merge=merge, contact=primary)


def contacts_unmerge(*, actor: Actor, contact: Contact, merge_id) -> MergeResult:
    """Undo one merge into ``contact``: everything it moved goes back; audited.

    Records ``contact.updated`` for both contacts. Refused (409) when the merge was
    already undone, or when ``contact`` has itself been merged since (undo that first).
    """
    workspace_wide_write_check(actor=actor, action="unmerge contacts")
    Conversation = _conversation_model()
    with transaction.atomic():
        merge = (
            ContactMerge.objects.select_for_update()
            .filter(workspace=actor.workspace, pk=merge_id, primary_id=contact.pk)
            .first()
        )
        if merge is None:
            raise NotFound("No such merge of this contact.")
        if merge.unmerged_at is not None:
            raise Conflict("This merge was already undone.", code="already_unmerged")
        locked = _lock_pair(
            workspace=actor.workspace, ids=[str(merge.primary_id), str(merge.duplicate_id)]
        )
        primary = locked[str(merge.primary_id)]
        duplicate = locked[str(merge.duplicate_id)]
        if primary.merged_into_id:
            raise Conflict(
                "This contact was merged into another one since; undo that merge first.",
                code="contact_merged",
                details={"merged_into": str(primary.merged_into_id)},
            )
        if primary.erased_at or duplicate.erased_at or duplicate.merged_into_id != primary.pk:
            raise Conflict("This merge can no longer be undone.", code="merge_not_undoable")

        moved = merge.moved
        # Only what is still on the primary goes back: an identity removed since stays removed.
        Identity.objects.filter(pk__in=moved.get("identities", []), contact=primary).update(
            contact=duplicate
        )
        back = Conversation.objects.filter(pk__in=moved.get("conversations", []), contact=primary)
        moved_back = [str(pk) for pk in back.values_list("pk", flat=True)]
        Conversation.objects.filter(pk__in=moved_back).update(contact=duplicate)
        Note.objects.filter(pk__in=moved.get("notes", []), contact=primary).update(
            contact=duplicate
        )
        added = {t.casefold() for t in moved.get("tags", [])}
        primary.tags = [t for t in primary.tags if t.casefold() not in added]
        before = merge.primary_before
        for field, value in moved.get("fields", {}).items():
            if field == "owner":
                if str(primary.owner_id) == value:
                    primary.owner_id = before.get("owner")
            elif getattr(primary, field) == value:
                setattr(primary, field, before.get(field, ""))
        for key, value in moved.get("attributes", {}).items():
            if primary.attributes.get(key) == value:
                primary.attributes.pop(key, None)

        now = timezone.now()
        primary.updated_at = now
        contact_denormalize(primary)
        primary.save()
        duplicate.merged_into = None
        duplicate.updated_at = now
        contact_denormalize(duplicate)
        duplicate.save()
        merge.unmerged_at = now
        merge.save(update_fields=["unmerged_at"])
        audit_record(
            actor=actor,
            action="contact.unmerged",
            target_type="contact",
            target_id=primary.pk,
            details={"merge": str(merge.pk), "duplicate": str(duplicate.pk)},
        )
        primary, duplicate = contact_fresh(primary.pk), contact_fresh(duplicate.pk)
        events_record(
            workspace=actor.workspace,
            items=[
                ("contact.updated", contact_data(primary)),
                ("contact.updated", contact_data(duplicate)),
                *_conversation_events(moved_back),
            ],
        )
    return MergeResult(merge=merge, contact=primary, restored=duplicate)
