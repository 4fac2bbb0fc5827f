"""The contact resources as the REST API shows them.

They live outside ``contacts/api`` because the services record events whose ``data`` is
the resource exactly as the API shows it (API.md, Events): one representation serves both.
Names are globally unique for the OpenAPI components.

The serializers describe the resources for the OpenAPI schema; the contacts, identities
and timeline items themselves are built by plain functions (``contact_data``,
``identity_data``, ``timeline_item_data``) that give the same dictionaries: DRF's
field-by-field ``to_representation`` was more than half of a contact page's CPU time.
``tests/contacts/test_representations.py`` holds the two to the same output.
"""

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from rest_framework import serializers

from crm.times import iso

from .models import LIFECYCLE_CHOICES, AttributeDefinition, Contact, Identity, Note

ATTRIBUTE_TYPES = tuple(value for value, _ in AttributeDefinition.TYPE_CHOICES)


class IdentityOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    contact = serializers.UUIDField(source="contact_id")
    platform = serializers.CharField()
    external_id = serializers.CharField()
    handle = serializers.CharField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()
    brand_account = serializers.UUIDField(source="brand_account_id", allow_null=True)
    profile = serializers.DictField()
    created_at = serializers.DateTimeField()


class ContactOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    company = serializers.CharField()
    lifecycle_stage = serializers.ChoiceField(
        choices=[("", "None"), *LIFECYCLE_CHOICES], allow_blank=True
    )
    owner = serializers.UUIDField(source="owner_id", allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    attributes = serializers.DictField()
    identities = IdentityOutputSerializer(many=True, source="identities.all")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NoteOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    contact = serializers.UUIDField(source="contact_id")
    text = serializers.CharField()
    author = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_author(self, note) -> dict:
        return {"type": note.author_type, "id": note.author_id or None, "name": note.author_name}


class AttributeDefinitionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    key = serializers.SlugField()
    label = serializers.CharField()
    # A plain string in the schema: an enum named "type" collides with other components'.
    type = serializers.CharField(help_text=f"One of {', '.join(ATTRIBUTE_TYPES)}.")
    options = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class TimelineItemOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    conversation = serializers.UUIDField(source="conversation_id")
    platform = serializers.CharField(source="conversation_platform")
    kind = serializers.CharField(source="conversation_kind", help_text="The conversation's kind.")
    brand_account = serializers.UUIDField(source="conversation_brand_account_id", allow_null=True)
    direction = serializers.CharField()
    private = serializers.BooleanField()
    author = serializers.SerializerMethodField()
    text = serializers.CharField()
    attachments = serializers.ListField(child=serializers.DictField())
    external_id = serializers.CharField()
    parent = serializers.UUIDField(source="parent_id", allow_null=True)
    status = serializers.CharField()
    sent_at = serializers.DateTimeField(allow_null=True)
    received_at = serializers.DateTimeField(allow_null=True)
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_author(self, message) -> dict:
        return {
            "type": message.author_type,
            "id": message.author_id or None,
            "name": message.author_name,
        }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _object(value: dict | None) -> dict | None:
    """A JSON object as DRF's ``DictField`` writes it (keys as strings)."""
    return None if value is None else {str(key): item for key, item in value.items()}


def identity_data(identity: Identity) -> dict[str, Any]:
    """The identity as the REST API shows it (``IdentityOutputSerializer``), from a model
    instance or a row's namespace (``contact_row_data``)."""
    return {
        "id": _text(identity.pk),
        "contact": _text(identity.contact_id),
        "platform": _text(identity.platform),
        "external_id": _text(identity.external_id),
        "handle": _text(identity.handle),
        "display_name": _text(identity.display_name),
        "avatar_url": _text(identity.avatar_url),
        "brand_account": _text(identity.brand_account_id),
        "profile": _object(identity.profile),
        "created_at": iso(identity.created_at),
    }


def contact_data(contact: Contact, *, identities: Iterable | None = None) -> dict[str, Any]:
    """The contact as the REST API shows it (``ContactOutputSerializer``), as plain JSON
    types, for answers and event data alike: ``identities`` if given, else the (prefetched)
    related ones."""
    if identities is None:
        identities = contact.identities.all()
    tags = contact.tags
    return {
        "id": _text(contact.pk),
        "name": _text(contact.name),
        "email": _text(contact.email),
        "phone": _text(contact.phone),
        "company": _text(contact.company),
        "lifecycle_stage": contact.lifecycle_stage,
        "owner": _text(contact.owner_id),
        "tags": None if tags is None else [_text(tag) for tag in tags],
        "attributes": _object(contact.attributes),
        "identities": [identity_data(identity) for identity in identities],
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
    }


def contact_row_data(contact: dict[str, Any], identities: Iterable[dict[str, Any]]) -> dict:
    """``contact_data`` of a contact's row and its identities' rows, by field attname (as
    ``crm.bulk.row_new`` makes them for a new contact, ``selectors.contact_list(rows=True)``
    and ``selectors.contact_rows_complete`` for a page): no model instance built for them."""
    return contact_data(
        SimpleNamespace(pk=contact["id"], **contact),
        identities=[SimpleNamespace(pk=row["id"], **row) for row in identities],
    )


def timeline_item_data(message, *, show_deleted: bool = False) -> dict[str, Any]:
    """A message of ``selectors.contact_timeline`` as the timeline shows it
    (``TimelineItemOutputSerializer``); a deleted message's content only to admins
    (``show_deleted``), as in the conversation view."""
    hidden = message.deleted_at is not None and not show_deleted
    attachments = message.attachments
    return {
        "id": _text(message.pk),
        "conversation": _text(message.conversation_id),
        "platform": _text(message.conversation_platform),
        "kind": _text(message.conversation_kind),
        "brand_account": _text(message.conversation_brand_account_id),
        "direction": _text(message.direction),
        "private": message.private,
        "author": {
            "type": message.author_type,
            "id": message.author_id or None,
            "name": message.author_name,
        },
        "text": "" if hidden else _text(message.text),
        "attachments": []
        if hidden
        else None
        if attachments is None
        else [_object(attachment) for attachment in attachments],
        "external_id": _text(message.external_id),
        "parent": _text(message.parent_id),
        "status": _text(message.status),
        "sent_at": iso(message.sent_at),
        "received_at": iso(message.received_at),
        "edited_at": iso(message.edited_at),
        "deleted_at": iso(message.deleted_at),
        "created_at": iso(message.created_at),
    }


def note_data(note: Note) -> dict[str, Any]:
    return _plain(NoteOutputSerializer(note).data)


def _plain(data: Any) -> Any:
    # DRF returns ReturnDict/OrderedDict with UUIDs already strings; make nested
    # containers plain so the JSONField stores exactly what the API renders.
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_plain(value) for value in data]
    return data
