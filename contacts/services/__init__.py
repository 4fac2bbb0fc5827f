"""Writes of the contacts app. Import public services from here."""

from .attributes import (
    attribute_definition_create,
    attribute_definition_delete,
    attribute_definition_update,
)
from .contacts import contact_create, contact_delete, contact_update
from .identities import identity_create, identity_delete, identity_resolve
from .imports import ImportReport, contacts_import_csv
from .merge import MergeResult, contacts_merge, contacts_unmerge
from .notes import note_create
from .privacy import contact_erase, contact_export

__all__ = [
    "ImportReport",
    "MergeResult",
    "attribute_definition_create",
    "attribute_definition_delete",
    "attribute_definition_update",
    "contact_create",
    "contact_delete",
    "contact_erase",
    "contact_export",
    "contact_update",
    "contacts_import_csv",
    "contacts_merge",
    "contacts_unmerge",
    "identity_create",
    "identity_delete",
    "identity_resolve",
    "note_create",
]
