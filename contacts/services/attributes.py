"""Custom contact attributes: the workspace's definitions and the validation of values."""

import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import Conflict, InvalidInput
from crm.services.audit import audit_record
from crm.services.events import events_record

from ..models import AttributeDefinition, Contact
from ..serializers import contact_data

TYPES = tuple(value for value, _ in AttributeDefinition.TYPE_CHOICES)
TEXT_MAX = 2000


def _options_clean(*, type: str, options: list[str] | None) -> list[str]:
    cleaned = list(dict.fromkeys(str(o).strip() for o in (options or []) if str(o).strip()))
    if type in ("select", "multiselect") and not cleaned:
        raise InvalidInput(
            "A select attribute needs options.", details={"options": ["Give at least one."]}
        )
    if type not in ("select", "multiselect") and cleaned:
        raise InvalidInput(
            "Only select attributes have options.", details={"options": ["Leave it empty."]}
        )
    return cleaned


def attribute_definition_create(
    *, actor: Actor, key: str, label: str, type: str, options: list[str] | None = None
) -> AttributeDefinition:
    """Define a custom attribute for the workspace's contacts."""
    if type not in TYPES:
        raise InvalidInput("Unknown attribute type.", details={"type": [f"One of {TYPES}."]})
    options = _options_clean(type=type, options=options)
    try:
        with transaction.atomic():
            definition = AttributeDefinition.objects.create(
                workspace=actor.workspace, key=key, label=label, type=type, options=options
            )
            audit_record(
                actor=actor,
                action="contact_attribute.created",
                target_type="contact_attribute",
                target_id=definition.pk,
                details={"key": key, "type": type},
            )
    except IntegrityError as exc:
        raise Conflict(f"The attribute {key!r} already exists.", code="attribute_exists") from exc
    return definition


def attribute_definition_update(
    *,
    actor: Actor,
    definition: AttributeDefinition,
    label: str | None = None,
    options: list[str] | None = None,
) -> AttributeDefinition:
    """Rename an attribute or change its options (its key and type never change).

    Removing an option that contacts hold is refused: their values would become invalid.
    """
    with transaction.atomic():
        if label is not None:
            definition.label = label
        if options is not None:
            new = _options_clean(type=definition.type, options=options)
            removed = set(definition.options) - set(new)
            if removed and _values_in_use(definition=definition, values=removed):
                raise Conflict(
                    "Contacts still hold a removed option.",
                    code="attribute_option_in_use",
                    details={"options": sorted(removed)},
                )
            definition.options = new
        definition.save(update_fields=["label", "options"])
        audit_record(
            actor=actor,
            action="contact_attribute.updated",
            target_type="contact_attribute",
            target_id=definition.pk,
            details={"key": definition.key},
        )
    return definition


def _values_in_use(*, definition: AttributeDefinition, values: set[str]) -> bool:
    holders = Contact.objects.filter(
        workspace_id=definition.workspace_id, attributes__has_key=definition.key
    ).values_list("attributes", flat=True)
    for attributes in holders.iterator(chunk_size=500):
        value = attributes.get(definition.key)
        held = set(value) if isinstance(value, list) else {value}
        if held & values:
            return True
    return False


def attribute_definition_delete(*, actor: Actor, definition: AttributeDefinition) -> None:
    """Delete an attribute and its values on every contact (each an event)."""
    with transaction.atomic():
        key = definition.key
        holders = list(
            Contact.objects.select_for_update()
            .filter(workspace_id=definition.workspace_id, attributes__has_key=key)
            .prefetch_related("identities")
        )
        now = timezone.now()
        for contact in holders:
            contact.attributes.pop(key, None)
            contact.updated_at = now
        Contact.objects.bulk_update(holders, ["attributes", "updated_at"])
        definition.delete()
        audit_record(
            actor=actor,
            action="contact_attribute.deleted",
            target_type="contact_attribute",
            target_id=key,
            details={"contacts": len(holders)},
        )
        events_record(
            workspace=actor.workspace,
            items=[("contact.updated", contact_data(contact)) for contact in holders],
        )


def attribute_value_clean(definition: AttributeDefinition, value: Any) -> Any:
    """The value as stored for this definition; raises ValueError with a reason."""
    kind = definition.type
    if kind == "text":
        if not isinstance(value, str):
            raise ValueError("Must be text.")
        if len(value) > TEXT_MAX:
            raise ValueError(f"At most {TEXT_MAX} characters.")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):
                try:
                    number = float(value)
                except ValueError:
                    raise ValueError("Must be a number.") from None
                return int(number) if number.is_integer() else number
            raise ValueError("Must be a number.")
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "no", "0"):
            return False
        raise ValueError("Must be true or false.")
    if kind == "date":
        try:
            return datetime.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError("Must be a date, YYYY-MM-DD.") from None
    if kind == "url":
        try:
            URLValidator(schemes=["http", "https"])(str(value))
        except DjangoValidationError:
            raise ValueError("Must be an http(s) URL.") from None
        return str(value)
    if kind == "select":
        if value not in definition.options:
            raise ValueError(f"Must be one of {definition.options}.")
        return value
    if kind == "multiselect":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(";") if v.strip()]
        if not isinstance(value, list) or any(v not in definition.options for v in value):
            raise ValueError(f"Must be a list of {definition.options}.")
        return list(dict.fromkeys(value))
    raise ValueError("Unknown attribute type.")


def attributes_apply(*, workspace, current: dict, changes: dict) -> dict:
    """``current`` with ``changes`` applied: typed per definition; a null value removes.

    Raises InvalidInput naming every bad key, so a client fixes them all at once.
    """
    definitions = {
        d.key: d for d in AttributeDefinition.objects.filter(workspace=workspace, key__in=changes)
    }
    result = dict(current)
    errors: dict[str, list[str]] = {}
    for key, value in changes.items():
        definition = definitions.get(key)
        if definition is None:
            errors[key] = ["No such attribute; define it under contact-attributes/ first."]
            continue
        if value is None or value == "":
            result.pop(key, None)
            continue
        try:
            result[key] = attribute_value_clean(definition, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    if errors:
        raise InvalidInput(
            f"Invalid attribute {next(iter(errors))!r}: {next(iter(errors.values()))[0]}",
            details={"attributes": errors},
        )
    return result
