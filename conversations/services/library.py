"""Labels and canned responses: the workspace's shared vocabulary and saved replies."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import Conflict, InvalidInput

from ..models import CannedResponse, Label


def _save_unique(obj, *, what: str) -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:
        raise Conflict(
            f"A {what} with this name exists.", code=f"{what.replace(' ', '_')}_exists"
        ) from exc


def _name(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(
            "A name is required.", details={"name": ["This field may not be blank."]}
        )
    return value


def label_create(*, actor: Actor, name: str, color: str = "", description: str = "") -> Label:
    """Create a workspace label; names are unique in the workspace."""
    label = Label(workspace=actor.workspace, name=_name(name), color=color, description=description)
    _save_unique(label, what="label")
    return label


def label_update(*, actor: Actor, label: Label, **fields) -> Label:
    """Rename or recolour a label (conversations keep it: they point at its id)."""
    for key in ("name", "color", "description"):
        if key in fields and fields[key] is not None:
            setattr(label, key, _name(fields[key]) if key == "name" else fields[key])
    label.updated_at = timezone.now()
    _save_unique(label, what="label")
    return label


def label_delete(*, actor: Actor, label: Label) -> None:
    """Delete a label; it disappears from every conversation that had it."""
    label.delete()


def canned_response_create(*, actor: Actor, name: str, text: str) -> CannedResponse:
    """Save a reply for reuse; ``{{contact.name}}``/``{{agent.name}}`` are filled when used."""
    if not (text or "").strip():
        raise InvalidInput("A canned response needs text.", details={"text": ["Empty."]})
    canned = CannedResponse(
        workspace=actor.workspace, name=_name(name), text=text, created_by=actor.membership
    )
    _save_unique(canned, what="canned response")
    return canned


def canned_response_update(*, actor: Actor, canned: CannedResponse, **fields) -> CannedResponse:
    """Change a canned response's name or text."""
    if fields.get("name") is not None:
        canned.name = _name(fields["name"])
    if fields.get("text") is not None:
        if not fields["text"].strip():
            raise InvalidInput("A canned response needs text.", details={"text": ["Empty."]})
        canned.text = fields["text"]
    canned.updated_at = timezone.now()
    _save_unique(canned, what="canned response")
    return canned


def canned_response_delete(*, actor: Actor, canned: CannedResponse) -> None:
    """Delete a canned response."""
    canned.delete()
