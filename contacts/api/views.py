"""The contacts API: contacts, identities, notes, timeline, duplicates, merges, privacy,
CSV import and export, and the workspace's custom attribute definitions."""

import csv
import json
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import renderers, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from conversations.selectors import actor_is_admin
from crm import scopes
from crm.api.base import WorkspaceApi
from crm.api.parsers import JSONParser
from crm.api.queries import QueryParametersSerializer
from crm.api.renderers import JSONRenderer
from crm.exceptions import InvalidInput, PayloadTooLarge
from crm.times import iso
from integrations.models import PLATFORM_CHOICES, BrandAccount

from .. import selectors
from .. import services as svc
from ..models import LIFECYCLE_CHOICES, ContactMerge
from ..serializers import (
    ATTRIBUTE_TYPES,
    AttributeDefinitionOutputSerializer,
    ContactOutputSerializer,
    IdentityOutputSerializer,
    NoteOutputSerializer,
    TimelineItemOutputSerializer,
    contact_data,
    contact_row_data,
    timeline_item_data,
)
from ..services.contacts import workspace_wide_write_check

READ = scopes.CONTACTS_READ
WRITE = scopes.CONTACTS_WRITE
ADMIN = scopes.ADMIN
TAGS = ["contacts"]
IMPORT_MAX_BYTES = 10 * 1024 * 1024


# --- Serializers --------------------------------------------------------------------------


class ContactListFilterSerializer(QueryParametersSerializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Name, email, phone or identity handle; case- and accent-insensitive.",
    )
    tag = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text="A tag the contact has; repeat for several (all must match).",
    )
    platform = serializers.ChoiceField(
        choices=PLATFORM_CHOICES, required=False, help_text="Has an identity on this platform."
    )
    owner = serializers.CharField(
        required=False, help_text="A member id, `me` or `none` (no owner)."
    )
    lifecycle_stage = serializers.ChoiceField(choices=LIFECYCLE_CHOICES, required=False)
    updated_after = serializers.DateTimeField(
        required=False, help_text="Only contacts changed after this time."
    )

    def validate_owner(self, value: str) -> str:
        if value in ("me", "none"):
            return value
        try:
            return str(serializers.UUIDField().to_internal_value(value))
        except serializers.ValidationError:
            raise serializers.ValidationError("A member id, `me` or `none`.") from None


class ContactCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    company = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    lifecycle_stage = serializers.ChoiceField(
        choices=LIFECYCLE_CHOICES, required=False, allow_blank=True, default=""
    )
    owner = serializers.UUIDField(required=False, allow_null=True, default=None)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list
    )
    attributes = serializers.DictField(
        required=False,
        default=dict,
        help_text="Values of the workspace's contact-attributes/, by key.",
    )


class ContactUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    company = serializers.CharField(max_length=255, required=False, allow_blank=True)
    lifecycle_stage = serializers.ChoiceField(
        choices=LIFECYCLE_CHOICES, required=False, allow_blank=True
    )
    owner = serializers.UUIDField(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    attributes = serializers.DictField(
        required=False, help_text="Keys to set; a null value removes the key."
    )


class IdentityCreateInputSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES)
    external_id = serializers.CharField(max_length=255)
    brand_account = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Required for facebook, instagram and api: their ids are per account.",
    )
    handle = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    display_name = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default=""
    )
    avatar_url = serializers.URLField(max_length=1000, required=False, allow_blank=True, default="")
    profile = serializers.DictField(required=False, default=dict)


class NoteCreateInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20000)


class ContactMergeInputSerializer(serializers.Serializer):
    primary = serializers.UUIDField(help_text="The contact that stays.")
    duplicate = serializers.UUIDField(help_text="The contact merged into it.")


class ContactMergeOutputSerializer(serializers.Serializer):
    merge = serializers.UUIDField(source="merge.pk")
    contact = ContactOutputSerializer()


class ContactUnmergeInputSerializer(serializers.Serializer):
    merge = serializers.UUIDField()


class ContactUnmergeOutputSerializer(serializers.Serializer):
    merge = serializers.UUIDField(source="merge.pk")
    contact = ContactOutputSerializer(help_text="The primary, without what the merge moved.")
    restored = ContactOutputSerializer(help_text="The duplicate, back as it was.")


class ContactMergeRecordOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    primary = serializers.UUIDField(source="primary_id")
    duplicate = serializers.UUIDField(source="duplicate_id")
    moved = serializers.DictField(
        help_text="Ids of moved identities, conversations and notes; tags, fields and "
        "attributes the primary gained."
    )
    created_at = serializers.DateTimeField()
    unmerged_at = serializers.DateTimeField(allow_null=True)


class ContactDuplicateOutputSerializer(serializers.Serializer):
    contact = ContactOutputSerializer()
    reason = serializers.ChoiceField(
        choices=["same_email", "same_phone", "same_handle", "similar_name"],
        help_text="The strongest reason.",
    )
    reasons = serializers.ListField(child=serializers.CharField())
    score = serializers.FloatField(help_text="0 to 1: how likely they are one person.")


class ContactImportInputSerializer(serializers.Serializer):
    csv = serializers.CharField(
        required=False, trim_whitespace=False, help_text="The CSV text (or send `file`)."
    )
    file = serializers.FileField(required=False, help_text="The CSV file, as multipart.")
    mapping = serializers.JSONField(
        required=False,
        default=dict,
        help_text="Header -> target: name, first_name, last_name, email, phone, company, "
        "lifecycle_stage, tags, owner, handle:<platform>, attribute:<key>, ignore.",
    )


class ContactImportRowOutputSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="The line in the file.")
    status = serializers.ChoiceField(choices=["created", "updated", "rejected"])
    contact = serializers.UUIDField(allow_null=True)
    errors = serializers.DictField()


class ContactImportReportOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    rejected = serializers.IntegerField()
    columns = serializers.DictField(child=serializers.CharField())
    rows = ContactImportRowOutputSerializer(many=True)


class AttributeDefinitionCreateInputSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=64)
    label = serializers.CharField(max_length=120)
    type = serializers.CharField(help_text=f"One of {', '.join(ATTRIBUTE_TYPES)}.")
    options = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False, default=list
    )

    def validate_type(self, value: str) -> str:
        if value not in ATTRIBUTE_TYPES:
            raise serializers.ValidationError(f"One of {', '.join(ATTRIBUTE_TYPES)}.")
        return value


class AttributeDefinitionUpdateInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=120, required=False)
    options = serializers.ListField(child=serializers.CharField(max_length=120), required=False)


def _valid(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- Contacts -----------------------------------------------------------------------------


class ContactListApi(WorkspaceApi):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="contacts_list",
        parameters=[ContactListFilterSerializer],
        responses=ContactOutputSerializer(many=True),
        tags=TAGS,
    )
    def get(self, request, workspace):
        filters = _valid(ContactListFilterSerializer, request.query_params)
        queryset = selectors.contact_list(
            workspace=self.workspace,
            actor=self.actor,
            q=filters.get("q", ""),
            tags=filters.get("tag"),
            platform=filters.get("platform", ""),
            owner=filters.get("owner", ""),
            lifecycle_stage=filters.get("lifecycle_stage", ""),
            updated_after=filters.get("updated_after"),
            rows=True,
        )
        return self.paginated_response(
            queryset=queryset,
            represent=lambda row: contact_row_data(row, row["identity_rows"]),
            ordering=("-created_at", "-id"),
            complete=selectors.contact_rows_complete,
        )

    @extend_schema(
        operation_id="contacts_create",
        request=ContactCreateInputSerializer,
        responses={201: ContactOutputSerializer},
        tags=TAGS,
    )
    def post(self, request, workspace):
        data = _valid(ContactCreateInputSerializer, request.data)
        contact = svc.contact_create(actor=self.actor, **data)
        return Response(ContactOutputSerializer(contact).data, status=status.HTTP_201_CREATED)


class ContactDetailApi(WorkspaceApi):
    required_scopes = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(operation_id="contacts_retrieve", responses=ContactOutputSerializer, tags=TAGS)
    def get(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        return Response(contact_data(contact))

    @extend_schema(
        operation_id="contacts_update",
        request=ContactUpdateInputSerializer,
        responses=ContactOutputSerializer,
        tags=TAGS,
        description="Sales members change only the contacts they own.",
    )
    def patch(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        data = _valid(ContactUpdateInputSerializer, request.data)
        contact = svc.contact_update(actor=self.actor, contact=contact, **data)
        return Response(ContactOutputSerializer(contact).data)

    @extend_schema(
        operation_id="contacts_delete",
        responses={204: None},
        tags=TAGS,
        description="Refused (409) for a contact with conversations: erase it instead.",
    )
    def delete(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        svc.contact_delete(actor=self.actor, contact=contact)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Identities ---------------------------------------------------------------------------


class IdentityListApi(WorkspaceApi):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="contact_identities_list",
        responses=IdentityOutputSerializer(many=True),
        tags=TAGS,
    )
    def get(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        return self.paginated_response(
            queryset=selectors.identity_list(contact=contact),
            serializer_class=IdentityOutputSerializer,
        )

    @extend_schema(
        operation_id="contact_identities_create",
        request=IdentityCreateInputSerializer,
        responses={201: IdentityOutputSerializer},
        tags=TAGS,
    )
    def post(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        data = dict(_valid(IdentityCreateInputSerializer, request.data))
        brand_account_id = data.pop("brand_account")
        brand_account = None
        if brand_account_id:
            brand_account = BrandAccount.objects.filter(
                workspace=self.workspace, pk=brand_account_id
            ).first()
            if brand_account is None:
                raise InvalidInput(
                    "No such brand account.", details={"brand_account": ["Not found."]}
                )
        identity = svc.identity_create(
            actor=self.actor, contact=contact, brand_account=brand_account, **data
        )
        return Response(IdentityOutputSerializer(identity).data, status=status.HTTP_201_CREATED)


class IdentityDetailApi(WorkspaceApi):
    required_scopes = {"GET": READ, "DELETE": WRITE}

    @extend_schema(
        operation_id="contact_identities_retrieve",
        responses=IdentityOutputSerializer,
        tags=TAGS,
    )
    def get(self, request, workspace, contact_id, identity_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        identity = selectors.identity_get(contact=contact, identity_id=identity_id)
        return Response(IdentityOutputSerializer(identity).data)

    @extend_schema(operation_id="contact_identities_delete", responses={204: None}, tags=TAGS)
    def delete(self, request, workspace, contact_id, identity_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        identity = selectors.identity_get(contact=contact, identity_id=identity_id)
        svc.identity_delete(actor=self.actor, identity=identity)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Notes, timeline, duplicates ----------------------------------------------------------


class NoteListApi(WorkspaceApi):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="contact_notes_list", responses=NoteOutputSerializer(many=True), tags=TAGS
    )
    def get(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        return self.paginated_response(
            queryset=selectors.note_list(contact=contact), serializer_class=NoteOutputSerializer
        )

    @extend_schema(
        operation_id="contact_notes_create",
        request=NoteCreateInputSerializer,
        responses={201: NoteOutputSerializer},
        tags=TAGS,
    )
    def post(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        data = _valid(NoteCreateInputSerializer, request.data)
        note = svc.note_create(actor=self.actor, contact=contact, text=data["text"])
        return Response(NoteOutputSerializer(note).data, status=status.HTTP_201_CREATED)


class TimelineApi(WorkspaceApi):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="contact_timeline",
        responses=TimelineItemOutputSerializer(many=True),
        tags=TAGS,
        description="Every message of every conversation of the contact, on every "
        "platform, newest first.",
    )
    def get(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        show_deleted = actor_is_admin(self.actor)
        return self.paginated_response(
            queryset=selectors.contact_timeline(contact=contact, actor=self.actor),
            represent=lambda message: timeline_item_data(message, show_deleted=show_deleted),
            ordering=("-created_at", "-id"),
        )


class DuplicateListApi(WorkspaceApi):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="contact_duplicates",
        responses=inline_serializer(
            "ContactDuplicateList",
            {
                "results": ContactDuplicateOutputSerializer(many=True),
                "next": serializers.CharField(allow_null=True),
                "previous": serializers.CharField(allow_null=True),
            },
        ),
        tags=TAGS,
        description="Likely duplicates, best first (at most 20; `next` is always null).",
    )
    def get(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        duplicates = selectors.contact_duplicates(contact=contact)
        results = ContactDuplicateOutputSerializer(duplicates, many=True).data
        return Response({"results": results, "next": None, "previous": None})


# --- Merge --------------------------------------------------------------------------------


class ContactMergeApi(WorkspaceApi):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="contacts_merge",
        request=ContactMergeInputSerializer,
        responses=ContactMergeOutputSerializer,
        tags=TAGS,
        description="Moves the duplicate's identities, conversations, notes and tags onto "
        "the primary; `contacts/{id}/unmerge/` undoes it.",
    )
    def post(self, request, workspace):
        # Refused before the body is read: a sales member gets 403 whatever it sends.
        workspace_wide_write_check(actor=self.actor, action="merge contacts")
        data = _valid(ContactMergeInputSerializer, request.data)
        result = svc.contacts_merge(
            actor=self.actor, primary_id=data["primary"], duplicate_id=data["duplicate"]
        )
        return Response(ContactMergeOutputSerializer(result).data)


class ContactMergeListApi(WorkspaceApi):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="contact_merges_list",
        responses=ContactMergeRecordOutputSerializer(many=True),
        tags=TAGS,
        description="The merges into this contact, with what each moved.",
    )
    def get(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        return self.paginated_response(
            queryset=ContactMerge.objects.filter(workspace=self.workspace, primary=contact),
            serializer_class=ContactMergeRecordOutputSerializer,
        )


class ContactUnmergeApi(WorkspaceApi):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="contacts_unmerge",
        request=ContactUnmergeInputSerializer,
        responses=ContactUnmergeOutputSerializer,
        tags=TAGS,
    )
    def post(self, request, workspace, contact_id):
        workspace_wide_write_check(actor=self.actor, action="unmerge contacts")
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        data = _valid(ContactUnmergeInputSerializer, request.data)
        result = svc.contacts_unmerge(actor=self.actor, contact=contact, merge_id=data["merge"])
        return Response(ContactUnmergeOutputSerializer(result).data)


# --- Privacy ------------------------------------------------------------------------------


class ContactExportApi(WorkspaceApi):
    required_scopes = {"GET": WRITE}

    @extend_schema(
        operation_id="contact_export",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="One JSON document.")},
        tags=TAGS,
        description="Everything held about the person (data subject access): contact, "
        "identities, notes, conversations, messages and attachments' metadata. Audited.",
    )
    def get(self, request, workspace, contact_id):
        workspace_wide_write_check(actor=self.actor, action="export a person's data")
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        return Response(svc.contact_export(actor=self.actor, contact=contact))


class ContactEraseApi(WorkspaceApi):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="contact_erase",
        request=None,
        responses=ContactOutputSerializer,
        tags=TAGS,
        description="Irreversibly erases the person's personal data (and their messages' "
        "texts and attachments); counts and timings stay. Audited.",
    )
    def post(self, request, workspace, contact_id):
        contact = selectors.contact_get(workspace=self.workspace, contact_id=contact_id)
        contact = svc.contact_erase(actor=self.actor, contact=contact)
        return Response(ContactOutputSerializer(contact).data)


# --- CSV import and export ----------------------------------------------------------------


class ContactImportApi(WorkspaceApi):
    required_scopes = {"POST": WRITE}
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        operation_id="contacts_import",
        request={
            "application/json": ContactImportInputSerializer,
            "multipart/form-data": ContactImportInputSerializer,
        },
        responses=ContactImportReportOutputSerializer,
        tags=TAGS,
        description="Imports a CSV (header row first, UTF-8, up to 10 MB); rows matching a "
        "contact by email, phone or handle update it. Returns a report per row.",
    )
    def post(self, request, workspace):
        workspace_wide_write_check(actor=self.actor, action="import contacts")
        data = _valid(ContactImportInputSerializer, request.data)
        upload = data.get("file")
        if upload is not None:
            if upload.size > IMPORT_MAX_BYTES:
                raise PayloadTooLarge("The CSV file is larger than 10 MB.")
            content: bytes | str = upload.read()
        elif "csv" in data:
            content = data["csv"]
        else:
            raise InvalidInput("Send the CSV as `csv` or `file`.", details={"csv": ["Required."]})
        mapping = data.get("mapping") or {}
        if not isinstance(mapping, dict):
            raise InvalidInput("`mapping` is an object.", details={"mapping": ["Not an object."]})
        report = svc.contacts_import_csv(actor=self.actor, data=content, mapping=mapping)
        return Response(ContactImportReportOutputSerializer(report.as_dict()).data)


class CsvRenderer(renderers.BaseRenderer):
    """Lets clients ask for ``text/csv``; errors still leave as JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


EXPORT_COLUMNS = (
    "id",
    "name",
    "email",
    "phone",
    "company",
    "lifecycle_stage",
    "owner",
    "tags",
    "identities",
    "attributes",
    "created_at",
    "updated_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts like a formula: neutralise it, except phone
    # numbers (+33 ...), which are data.
    if value.startswith(_FORMULA_START) and not value.lstrip("+").replace(" ", "").isdigit():
        return "'" + value
    return value


def _csv_lines(queryset) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for contact in queryset.iterator(chunk_size=500):
        identities = ";".join(
            f"{i.platform}:{i.handle or i.external_id}" for i in contact.identities.all()
        )
        yield writer.writerow(
            [
                _cell(value)
                for value in (
                    str(contact.pk),
                    contact.name,
                    contact.email,
                    contact.phone,
                    contact.company,
                    contact.lifecycle_stage,
                    str(contact.owner_id or ""),
                    ";".join(contact.tags),
                    identities,
                    json.dumps(contact.attributes, ensure_ascii=False)
                    if contact.attributes
                    else "",
                    iso(contact.created_at),
                    iso(contact.updated_at),
                )
            ]
        )


class ContactCsvExportApi(WorkspaceApi):
    required_scopes = {"GET": READ}
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        operation_id="contacts_export_csv",
        parameters=[ContactListFilterSerializer],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        tags=TAGS,
        description="The filtered contact list as CSV, streamed (the list's filters apply).",
    )
    def get(self, request, workspace):
        filters = _valid(ContactListFilterSerializer, request.query_params)
        queryset = selectors.contact_list(
            workspace=self.workspace,
            actor=self.actor,
            q=filters.get("q", ""),
            tags=filters.get("tag"),
            platform=filters.get("platform", ""),
            owner=filters.get("owner", ""),
            lifecycle_stage=filters.get("lifecycle_stage", ""),
            updated_after=filters.get("updated_after"),
        ).order_by("created_at", "id")
        response = StreamingHttpResponse(_csv_lines(queryset), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.csv"'
        return response


# --- Custom attribute definitions ---------------------------------------------------------


class AttributeDefinitionListApi(WorkspaceApi):
    required_scopes = {"GET": READ, "POST": ADMIN}

    @extend_schema(
        operation_id="contact_attributes_list",
        responses=AttributeDefinitionOutputSerializer(many=True),
        tags=TAGS,
    )
    def get(self, request, workspace):
        return self.paginated_response(
            queryset=selectors.attribute_definition_list(workspace=self.workspace),
            serializer_class=AttributeDefinitionOutputSerializer,
        )

    @extend_schema(
        operation_id="contact_attributes_create",
        request=AttributeDefinitionCreateInputSerializer,
        responses={201: AttributeDefinitionOutputSerializer},
        tags=TAGS,
    )
    def post(self, request, workspace):
        data = _valid(AttributeDefinitionCreateInputSerializer, request.data)
        definition = svc.attribute_definition_create(actor=self.actor, **data)
        return Response(
            AttributeDefinitionOutputSerializer(definition).data, status=status.HTTP_201_CREATED
        )


class AttributeDefinitionDetailApi(WorkspaceApi):
    required_scopes = {"GET": READ, "PATCH": ADMIN, "DELETE": ADMIN}

    @extend_schema(
        operation_id="contact_attributes_retrieve",
        responses=AttributeDefinitionOutputSerializer,
        tags=TAGS,
    )
    def get(self, request, workspace, attribute_id):
        definition = selectors.attribute_definition_get(
            workspace=self.workspace, attribute_id=attribute_id
        )
        return Response(AttributeDefinitionOutputSerializer(definition).data)

    @extend_schema(
        operation_id="contact_attributes_update",
        request=AttributeDefinitionUpdateInputSerializer,
        responses=AttributeDefinitionOutputSerializer,
        tags=TAGS,
    )
    def patch(self, request, workspace, attribute_id):
        definition = selectors.attribute_definition_get(
            workspace=self.workspace, attribute_id=attribute_id
        )
        data = _valid(AttributeDefinitionUpdateInputSerializer, request.data)
        definition = svc.attribute_definition_update(
            actor=self.actor, definition=definition, **data
        )
        return Response(AttributeDefinitionOutputSerializer(definition).data)

    @extend_schema(
        operation_id="contact_attributes_delete",
        responses={204: None},
        tags=TAGS,
        description="Deletes the attribute and its values on every contact.",
    )
    def delete(self, request, workspace, attribute_id):
        definition = selectors.attribute_definition_get(
            workspace=self.workspace, attribute_id=attribute_id
        )
        svc.attribute_definition_delete(actor=self.actor, definition=definition)
        return Response(status=status.HTTP_204_NO_CONTENT)
