"""CSV import of contacts: header mapping, dedupe against existing contacts, a report.

Each row is validated and written in its own savepoint, so a malformed or invalid row is
reported and skipped while every other row is imported. A row that matches an existing
contact (by email, then phone digits, then a handle on the same platform) updates it:
non-empty cells overwrite, tags are added, missing identities are added.
"""

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.actors import Actor
from crm.exceptions import ApplicationError, InvalidInput
from crm.models import Membership
from crm.services.audit import audit_record
from crm.services.events import event_record
from integrations.models import PLATFORMS

from .. import normalize
from ..models import AttributeDefinition, Contact, Identity
from ..serializers import contact_data
from .attributes import attributes_apply
from .contacts import (
    _fields_clean,
    contact_denormalize,
    contact_fresh,
    workspace_wide_write_check,
)
from .identities import PLACEHOLDER_PREFIX

# Header spellings recognised without a mapping (folded, spaces/underscores/dashes alike).
HEADER_ALIASES = {
    "name": "name",
    "full name": "name",
    "contact name": "name",
    "first name": "first_name",
    "firstname": "first_name",
    "given name": "first_name",
    "last name": "last_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family name": "last_name",
    "email": "email",
    "e mail": "email",
    "email address": "email",
    "mail": "email",
    "phone": "phone",
    "phone number": "phone",
    "mobile": "phone",
    "telephone": "phone",
    "tel": "phone",
    "company": "company",
    "organization": "company",
    "organisation": "company",
    "lifecycle stage": "lifecycle_stage",
    "stage": "lifecycle_stage",
    "tags": "tags",
    "labels": "tags",
    "owner": "owner",
    "owner email": "owner",
    "twitter": "handle:x",
}
SIMPLE_TARGETS = {"name", "first_name", "last_name", "email", "phone", "company"}
TARGETS_HELP = (
    "name, first_name, last_name, email, phone, company, lifecycle_stage, tags, owner "
    "(a member's email or id), handle:<platform>, attribute:<key>, ignore"
)


@dataclass
class RowResult:
    row: int
    status: str  # "created" | "updated" | "rejected"
    contact: str | None = None
    errors: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    rejected: int = 0
    rows: list[RowResult] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "rejected": self.rejected,
            "columns": self.columns,
            "rows": [
                {"row": r.row, "status": r.status, "contact": r.contact, "errors": r.errors}
                for r in self.rows
            ],
        }


class RowRejected(Exception):
    def __init__(self, errors: dict[str, Any]):
        super().__init__(errors)
        self.errors = errors


def _header_key(header: str) -> str:
    return " ".join(normalize.fold(header).replace("_", " ").replace("-", " ").split())


def columns_map(*, workspace, headers: list[str], mapping: dict[str, str] | None) -> dict[str, str]:
    """Each header's target field: the explicit ``mapping`` first, then known spellings,
    a platform's name (a handle) or a defined attribute's key or label."""
    mapping = {_header_key(k): v for k, v in (mapping or {}).items()}
    definitions = AttributeDefinition.objects.filter(workspace=workspace)
    attribute_keys = {}
    for d in definitions:
        attribute_keys[_header_key(d.key)] = d.key
        attribute_keys[_header_key(d.label)] = d.key
    columns: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for header in headers:
        key = _header_key(header)
        target = mapping.get(key)
        if target is None:
            if key in HEADER_ALIASES:
                target = HEADER_ALIASES[key]
            elif key in PLATFORMS or key.removesuffix(" handle") in PLATFORMS:
                target = f"handle:{key.removesuffix(' handle')}"
            elif key in attribute_keys:
                target = f"attribute:{attribute_keys[key]}"
            else:
                target = "ignore"
        valid = (
            target in SIMPLE_TARGETS
            or target in ("lifecycle_stage", "tags", "owner", "ignore")
            or (target.startswith("handle:") and target.split(":", 1)[1] in PLATFORMS)
            or (
                target.startswith("attribute:")
                and target.split(":", 1)[1] in attribute_keys.values()
            )
        )
        if not valid:
            errors[header] = [f"Unknown target {target!r}; one of {TARGETS_HELP}."]
        columns[header] = target
    if errors:
        raise InvalidInput("The column mapping is invalid.", details={"mapping": errors})
    return columns


def csv_rows(text: str) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """``(line, cells, error)`` for each CSV record; a record the parser rejects gives
    an error instead of cells and parsing goes on with the next line."""
    lines = io.StringIO(text, newline="")
    reader = csv.reader(lines)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, None, f"Unreadable CSV: {exc}"
            continue
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells, None


def contacts_import_csv(
    *,
    actor: Actor,
    data: bytes | str,
    mapping: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import contacts from CSV text (UTF-8, a header row first); see the module doc."""
    workspace_wide_write_check(actor=actor, action="import contacts")
    if isinstance(data, bytes):
        # Undecodable bytes become lone surrogates so that only their rows are rejected.
        data = data.decode("utf-8-sig", errors="surrogateescape")
    records = list(csv_rows(data.lstrip("\ufeff")))
    if not records or records[0][1] is None:
        raise InvalidInput("The CSV file has no header row.", code="empty_csv")
    _, headers, _ = records[0]
    # A header with undecodable bytes is shown with U+FFFD: reports must encode as UTF-8.
    headers = [
        h.strip().encode("utf-8", "surrogateescape").decode("utf-8", "replace") for h in headers
    ]
    columns = columns_map(workspace=actor.workspace, headers=headers, mapping=mapping)
    report = ImportReport(columns=columns)
    body = records[1:]
    for done, (line, cells, error) in enumerate(body, start=1):
        result = _row_import(
            actor=actor, line=line, headers=headers, columns=columns, cells=cells, error=error
        )
        report.rows.append(result)
        setattr(report, result.status, getattr(report, result.status) + 1)
        if progress:
            progress(done, len(body))
    audit_record(
        actor=actor,
        action="contacts.imported",
        target_type="contact",
        details={"created": report.created, "updated": report.updated, "rejected": report.rejected},
    )
    return report


def _row_import(*, actor, line, headers, columns, cells, error) -> RowResult:
    try:
        if error:
            raise RowRejected({"row": [error]})
        if len(cells) != len(headers):
            raise RowRejected({"row": [f"{len(cells)} cells where the header has {len(headers)}."]})
        if any("\udc80" <= ch <= "\udcff" for cell in cells for ch in cell):
            raise RowRejected({"row": ["Not valid UTF-8."]})
        values = _row_values(actor=actor, columns=columns, headers=headers, cells=cells)
        with transaction.atomic():
            contact, created = _row_write(actor=actor, values=values)
        return RowResult(line, "created" if created else "updated", str(contact.pk))
    except RowRejected as exc:
        return RowResult(line, "rejected", errors=exc.errors)
    except ApplicationError as exc:
        return RowResult(line, "rejected", errors=exc.details or {"row": [str(exc.detail)]})


def _row_values(*, actor, columns, headers, cells) -> dict[str, Any]:
    values: dict[str, Any] = {"handles": {}, "attributes": {}}
    first = last = ""
    for header, cell in zip(headers, cells, strict=True):
        target, cell = columns[header], cell.strip()
        if target == "ignore" or not cell:
            continue
        if target == "first_name":
            first = cell
        elif target == "last_name":
            last = cell
        elif target == "tags":
            values["tags"] = [t for t in cell.replace(",", ";").split(";") if t.strip()]
        elif target == "owner":
            values["owner"] = _owner_lookup(actor=actor, value=cell)
        elif target.startswith("handle:"):
            values["handles"][target.split(":", 1)[1]] = cell
        elif target.startswith("attribute:"):
            values["attributes"][target.split(":", 1)[1]] = cell
        else:
            values[target] = cell
    if (first or last) and "name" not in values:
        values["name"] = f"{first} {last}".strip()
    if not any(values.get(k) for k in ("name", "email", "phone")) and not values["handles"]:
        raise RowRejected({"row": ["A contact needs a name, an email, a phone or a handle."]})
    if values.get("email"):
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        try:
            validate_email(values["email"])
        except ValidationError:
            raise RowRejected({"email": ["Not a valid email address."]}) from None
    if values.get("lifecycle_stage"):
        values["lifecycle_stage"] = normalize.fold(values["lifecycle_stage"])
    return values


def _owner_lookup(*, actor, value: str) -> Membership:
    member = Membership.objects.filter(workspace=actor.workspace, user__email__iexact=value).first()
    if member is None:
        try:
            member = Membership.objects.filter(workspace=actor.workspace, pk=value).first()
        except Exception:  # not a UUID
            member = None
    if member is None:
        raise RowRejected({"owner": [f"No member {value!r}."]})
    return member


def _matches(*, workspace, values) -> list[Contact]:
    live = Contact.objects.filter(
        workspace=workspace, merged_into__isnull=True, erased_at__isnull=True
    )
    if values.get("email"):
        found = (
            live.filter(email=normalize.email_key(values["email"])).order_by("created_at").first()
        )
        if found:
            return [found]
    if values.get("phone") and len(normalize.phone_digits(values["phone"])) >= 6:
        found = (
            live.filter(phone_key=normalize.phone_digits(values["phone"]))
            .order_by("created_at")
            .first()
        )
        if found:
            return [found]
    for platform, handle in values["handles"].items():
        found = live.filter(
            identities__platform=platform,
            identities__handle_key=normalize.handle_key(handle),
        ).first()
        if found:
            return [found]
    return []


def _row_write(*, actor, values) -> tuple[Contact, bool]:
    workspace = actor.workspace
    fields = {
        k: values[k]
        for k in ("name", "email", "phone", "company", "lifecycle_stage", "tags", "owner")
        if k in values
    }
    cleaned = _fields_clean(workspace=workspace, fields=fields)
    matches = _matches(workspace=workspace, values=values)
    created = not matches
    if created:
        contact = Contact(workspace=workspace)
        current_attributes: dict = {}
    else:
        contact = Contact.objects.select_for_update().get(pk=matches[0].pk)
        current_attributes = contact.attributes
    tags = cleaned.pop("tags", None)
    for key, value in cleaned.items():
        setattr(contact, key, value)
    if tags:
        known = {t.casefold() for t in contact.tags}
        contact.tags = [*contact.tags, *(t for t in tags if t.casefold() not in known)]
    contact.attributes = attributes_apply(
        workspace=workspace, current=current_attributes, changes=values["attributes"]
    )
    contact.updated_at = timezone.now()
    contact.save()
    for platform, handle in values["handles"].items():
        key = normalize.handle_key(handle)
        exists = Identity.objects.filter(
            workspace=workspace, platform=platform, handle_key=key
        ).exists()
        if not exists:
            Identity.objects.create(
                workspace=workspace,
                contact=contact,
                platform=platform,
                external_id=PLACEHOLDER_PREFIX + key,
                handle=handle.lstrip("@"),
                handle_key=key,
                profile={"source": "import"},
            )
    contact_denormalize(contact)
    contact.save(update_fields=["search_text", "phone_key", "tag_keys"])
    contact = contact_fresh(contact.pk)
    event_record(
        workspace=workspace,
        type="contact.created" if created else "contact.updated",
        data=contact_data(contact),
    )
    return contact, created


def report_rows_rejected(report: ImportReport) -> Iterable[RowResult]:
    return (r for r in report.rows if r.status == "rejected")
