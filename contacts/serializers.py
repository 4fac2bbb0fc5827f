"""The contact resources as the REST API shows them.

They live outside ``contacts/api`` because the services record events whose ``data`` is
the resource exactly as the API shows it (API.md, Events): one serializer serves both.
Names are globally unique for the OpenAPI components.
"""

from typing import Any

from rest_framework import serializers

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


def contact_data(contact: Contact) -> dict[str, Any]:
    """The contact as the REST API shows it, as plain JSON types (for event data)."""
    return _plain(ContactOutputSerializer(contact).data)


def identity_data(identity: Identity) -> dict[str, Any]:
    return _plain(IdentityOutputSerializer(identity).data)


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
