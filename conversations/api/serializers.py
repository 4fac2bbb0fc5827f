"""Schemas of the conversations API: inputs validated here, outputs documented here.

The views answer with ``conversations.representations`` dictionaries (the same ones the
event log records); these output serializers describe those shapes for OpenAPI.
"""

from rest_framework import serializers

from crm.api.queries import QueryParametersSerializer

from ..models import KIND_CHOICES, PRIORITY_CHOICES, STATUS_CHOICES

# --- outputs ------------------------------------------------------------------------------


class ReplyWindowOutputSerializer(serializers.Serializer):
    open = serializers.BooleanField()
    expires_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()


class ConversationContactOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()


class ConversationServiceLevelsOutputSerializer(serializers.Serializer):
    first_response_seconds = serializers.IntegerField(allow_null=True)
    next_response_avg_seconds = serializers.IntegerField(allow_null=True)
    next_response_count = serializers.IntegerField()
    resolution_seconds = serializers.IntegerField(allow_null=True)
    reopened_count = serializers.IntegerField()


class ConversationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    brand_account = serializers.UUIDField(allow_null=True)
    platform = serializers.CharField()
    kind = serializers.ChoiceField(choices=KIND_CHOICES)
    contact = serializers.UUIDField()
    # Plain strings in the schema: several resources have a "status" with other values,
    # and one enum name per field name keeps the generated clients' names stable.
    status = serializers.CharField(help_text="open, pending, snoozed or resolved.")
    priority = serializers.ChoiceField(choices=PRIORITY_CHOICES)
    assignee = serializers.UUIDField(allow_null=True)
    team = serializers.UUIDField(allow_null=True)
    labels = serializers.ListField(child=serializers.UUIDField())
    snoozed_until = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField()
    first_response_at = serializers.DateTimeField(allow_null=True)
    reply_window = ReplyWindowOutputSerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    subject = serializers.CharField()
    thread_key = serializers.CharField()
    contact_summary = ConversationContactOutputSerializer()
    last_message_preview = serializers.CharField()
    last_message_direction = serializers.CharField()
    last_inbound_at = serializers.DateTimeField(allow_null=True)
    waiting_since = serializers.DateTimeField(allow_null=True)
    unread_count = serializers.IntegerField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    service_levels = ConversationServiceLevelsOutputSerializer()


class ConversationPageOutputSerializer(serializers.Serializer):
    results = ConversationOutputSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class MessageAuthorOutputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["contact", "member", "brand", "system"])
    id = serializers.CharField(allow_null=True)
    name = serializers.CharField()


class MessageReactionOutputSerializer(serializers.Serializer):
    reaction = serializers.CharField()
    author = MessageAuthorOutputSerializer()
    created_at = serializers.DateTimeField()


class MessageEditOutputSerializer(serializers.Serializer):
    text = serializers.CharField()
    edited_at = serializers.DateTimeField()


class MessageOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    conversation = serializers.UUIDField()
    direction = serializers.ChoiceField(choices=["inbound", "outbound"])
    private = serializers.BooleanField()
    author = MessageAuthorOutputSerializer()
    text = serializers.CharField()
    attachments = serializers.ListField(child=serializers.DictField())
    external_id = serializers.CharField(allow_null=True)
    parent = serializers.UUIDField(allow_null=True)
    status = serializers.CharField(
        help_text="received, queued, sending, sent, delivered, read or failed."
    )
    error = serializers.DictField(allow_null=True)
    reactions = MessageReactionOutputSerializer(many=True)
    edits = MessageEditOutputSerializer(many=True)
    message_tag = serializers.CharField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    received_at = serializers.DateTimeField(allow_null=True)
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    platform_metadata = serializers.DictField(
        help_text="What the platform says beyond the text: a WordPress comment's "
        "moderation_status (approved, hold, spam, trash), a Discourse post's topic_id "
        "and post_number."
    )


class MessagePageOutputSerializer(serializers.Serializer):
    results = MessageOutputSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class BulkResultOutputSerializer(serializers.Serializer):
    updated = serializers.IntegerField()
    results = ConversationOutputSerializer(many=True)


class LabelOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    color = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CannedResponseOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    text = serializers.CharField()
    rendered = serializers.CharField(
        allow_null=True,
        help_text="The text with placeholders filled, when ?conversation=<id> is given.",
    )
    created_by = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class InboxSettingsOutputSerializer(serializers.Serializer):
    agents_see_only_their_teams = serializers.BooleanField()
    replies_require_assignee = serializers.BooleanField()
    timezone = serializers.CharField()
    business_hours = serializers.DictField()


class TeamAssignmentOutputSerializer(serializers.Serializer):
    team = serializers.UUIDField()
    auto_assign = serializers.BooleanField()
    max_open_per_agent = serializers.IntegerField(allow_null=True)
    last_assigned_member = serializers.UUIDField(allow_null=True)


class ReportStatsOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(allow_null=True)


class ReportMetricsOutputSerializer(serializers.Serializer):
    conversations = serializers.IntegerField()
    resolved = serializers.IntegerField()
    unresolved = serializers.IntegerField()
    first_response = ReportStatsOutputSerializer()
    next_response = ReportStatsOutputSerializer()
    resolution = ReportStatsOutputSerializer()


class ReportPlatformOutputSerializer(ReportMetricsOutputSerializer):
    platform = serializers.CharField()


class ReportTeamOutputSerializer(ReportMetricsOutputSerializer):
    team = serializers.UUIDField(allow_null=True)
    name = serializers.CharField()


class ReportAgentOutputSerializer(ReportMetricsOutputSerializer):
    agent = serializers.UUIDField(allow_null=True)
    name = serializers.CharField()


class ReportPeriodOutputSerializer(serializers.Serializer):
    to = serializers.DateTimeField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()  # a keyword in Python
        return fields


class ReportSummaryOutputSerializer(serializers.Serializer):
    period = ReportPeriodOutputSerializer()
    totals = ReportMetricsOutputSerializer()
    by_platform = ReportPlatformOutputSerializer(many=True)
    by_team = ReportTeamOutputSerializer(many=True)
    by_agent = ReportAgentOutputSerializer(many=True)


# --- inputs -------------------------------------------------------------------------------


def _csv_choice_list(choices):
    return serializers.ListField(child=serializers.ChoiceField(choices=choices), required=False)


class ConversationUpdateInputSerializer(serializers.Serializer):
    status = serializers.CharField(required=False, help_text="open, pending, snoozed or resolved.")
    priority = serializers.ChoiceField(choices=PRIORITY_CHOICES, required=False)
    assignee = serializers.UUIDField(required=False, allow_null=True)
    team = serializers.UUIDField(required=False, allow_null=True)
    labels = serializers.ListField(child=serializers.UUIDField(), required=False)
    snoozed_until = serializers.DateTimeField(required=False, allow_null=True)
    read = serializers.BooleanField(
        required=False, help_text="true marks the conversation read (unread_count 0)."
    )


class ConversationBulkChangeInputSerializer(ConversationUpdateInputSerializer):
    add_labels = serializers.ListField(child=serializers.UUIDField(), required=False)
    remove_labels = serializers.ListField(child=serializers.UUIDField(), required=False)


class ConversationBulkInputSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=500)
    changes = ConversationBulkChangeInputSerializer()


class MessageCreateInputSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    private = serializers.BooleanField(required=False, default=False)
    parent = serializers.UUIDField(required=False, allow_null=True, default=None)
    attachments = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    canned_response = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Use this canned response's text (placeholders filled) when text is empty.",
    )


class MessageUpdateInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20000)


class LabelCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    color = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    description = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default=""
    )


class LabelUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    color = serializers.CharField(max_length=16, required=False, allow_blank=True)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)


class CannedResponseCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    text = serializers.CharField(max_length=20000)


class CannedResponseUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    text = serializers.CharField(max_length=20000, required=False)


class InboxSettingsUpdateInputSerializer(serializers.Serializer):
    agents_see_only_their_teams = serializers.BooleanField(required=False)
    # The assignee lock: only the assignee replies to an assigned conversation (409).
    replies_require_assignee = serializers.BooleanField(required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    business_hours = serializers.DictField(required=False)


class TeamAssignmentUpdateInputSerializer(serializers.Serializer):
    auto_assign = serializers.BooleanField(required=False)
    max_open_per_agent = serializers.IntegerField(
        min_value=1, max_value=100_000, required=False, allow_null=True
    )


class ConversationListQuerySerializer(QueryParametersSerializer):
    """Query parameters of the inbox; list filters take comma-separated values."""

    status = _csv_choice_list(STATUS_CHOICES)
    assignee = serializers.CharField(required=False)
    team = serializers.CharField(required=False)
    label = serializers.CharField(required=False)
    platform = serializers.ListField(child=serializers.CharField(), required=False)
    brand_account = serializers.CharField(required=False)
    kind = _csv_choice_list(KIND_CHOICES)
    priority = _csv_choice_list(PRIORITY_CHOICES)
    contact = serializers.CharField(required=False)
    q = serializers.CharField(required=False, allow_blank=True, max_length=500)
    updated_after = serializers.DateTimeField(required=False)
    sort = serializers.ChoiceField(choices=["waiting", "recent"], required=False)

    LIST_FIELDS = ("status", "platform", "kind", "priority")

    def to_internal_value(self, data):
        flat = {}
        for key in self.fields:
            if key not in data:
                continue
            value = data.get(key)
            if key in self.LIST_FIELDS:
                value = [v for v in str(value).split(",") if v]
            flat[key] = value
        return super().to_internal_value(flat)
