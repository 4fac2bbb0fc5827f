"""Notes members and integrations write about a contact."""

from django.db import transaction

from crm.actors import Actor
from crm.exceptions import InvalidInput

from ..models import Contact, Note
from .contacts import contact_touch

NOTE_MAX_LENGTH = 20000


def note_create(*, actor: Actor, contact: Contact, text: str) -> Note:
    """Add a note to a contact, authored by the actor; any contacts:write role may.

    Sales members add notes to every contact (not only those they own): a note records
    what they learned, it changes nothing of the contact itself.
    """
    text = (text or "").strip()
    if not text or len(text) > NOTE_MAX_LENGTH:
        raise InvalidInput(
            "A note is 1 to 20,000 characters.", details={"text": ["Empty or too long."]}
        )
    with transaction.atomic():
        note = Note.objects.create(
            workspace=actor.workspace,
            contact=contact,
            text=text,
            author_type=actor.kind,
            author_id=actor.id,
            author_name=actor.name,
        )
        contact_touch(workspace=actor.workspace, contact_id=contact.pk)
    return note
