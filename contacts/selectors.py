"""Reads of the contacts app, always scoped to one workspace."""

import difflib
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from crm.actors import Actor
from crm.bulk import rows_where_in
from crm.exceptions import InvalidInput, NotFound
from crm.models import Workspace

from . import normalize
from .models import AttributeDefinition, Contact, Identity, Note


def contact_list(
    *,
    workspace: Workspace,
    actor: Actor | None = None,
    q: str = "",
    tags: list[str] | None = None,
    platform: str = "",
    owner: str = "",
    lifecycle_stage: str = "",
    updated_after: datetime | None = None,
    rows: bool = False,
) -> QuerySet:
    """The workspace's contacts (neither merged away nor erased), filtered.

    ``q`` matches name, email, phone and identity handles, case- and accent-insensitive,
    every term of it somewhere (a phone-like ``q`` matches the phone's digits). ``owner``
    is a member id, ``me`` (the acting member) or ``none``. Several ``tags`` must all be
    on the contact. With ``rows``, as contact rows (``_all_contact_rows``) instead of model
    instances with their identities prefetched.
    """
    base = _all_contact_rows() if rows else Contact.objects.prefetch_related("identities")
    qs = base.filter(workspace=workspace, merged_into__isnull=True, erased_at__isnull=True)
    for term in normalize.search_terms(q or ""):
        qs = qs.filter(search_text__contains=term)
    for tag in tags or []:
        key = normalize.fold(normalize.tag_clean(tag))
        if key:
            qs = qs.filter(tag_keys__contains=f"|{key}|")
    if platform:
        qs = qs.filter(
            Exists(Identity.objects.filter(contact_id=OuterRef("pk"), platform=platform))
        )
    if owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif owner == "me":
        member = actor.membership if actor else None
        if member is None:
            raise InvalidInput(
                "owner=me needs a member's credential.", details={"owner": ["Not a member."]}
            )
        qs = qs.filter(owner=member)
    elif owner:
        qs = qs.filter(owner_id=owner)
    if lifecycle_stage:
        qs = qs.filter(lifecycle_stage=lifecycle_stage)
    if updated_after is not None:
        qs = qs.filter(updated_at__gt=updated_after)
    return qs


# What ``serializers.contact_row_data`` reads of a contact row, by field attname.
CONTACT_ROW_COLUMNS = (
    "id",
    "name",
    "email",
    "phone",
    "company",
    "lifecycle_stage",
    "owner_id",
    "tags",
    "attributes",
    "created_at",
    "updated_at",
)


@cache
def _all_contact_rows() -> QuerySet:
    """Every contact as a row (``serializers.contact_row_data``): plain values, not model
    instances; ``contact_rows_complete`` adds a page's identities."""
    # Built once per process, as the inbox's rows are (``conversations.selectors``): each
    # page filters a copy, and this queryset itself is never evaluated.
    return Contact.objects.values(*CONTACT_ROW_COLUMNS)


# An identity of a contact row, by field attname (``serializers.identity_data``).
IDENTITY_ROW_COLUMNS = (
    "id",
    "contact_id",
    "platform",
    "external_id",
    "handle",
    "display_name",
    "avatar_url",
    "brand_account_id",
    "profile",
    "created_at",
)


def contact_rows_complete(rows: list[dict]) -> list[dict]:
    """The page's contact rows with their ``identity_rows`` (plain dicts), read for the
    whole page in one query.

    The lookup is the one Django's prefetch of ``identities`` makes (the page's contact
    ids, no order), so that a contact's identities come in the same order as in its own
    answer; read as rows (``rows_where_in``), without compiling a queryset.
    """
    if not rows:
        return rows
    by_contact: dict = {}
    for identity in rows_where_in(
        Identity, IDENTITY_ROW_COLUMNS, key="contact_id", values=[row["id"] for row in rows]
    ):
        by_contact.setdefault(identity["contact_id"], []).append(identity)
    for row in rows:
        row["identity_rows"] = by_contact.get(row["id"], [])
    return rows


def contact_get(*, workspace: Workspace, contact_id, include_erased: bool = True) -> Contact:
    """One contact of the workspace; a merged-away contact is NotFound (with its primary)."""
    contact = (
        Contact.objects.prefetch_related("identities")
        .filter(workspace=workspace, pk=contact_id)
        .first()
    )
    if contact is None or (contact.erased_at and not include_erased):
        raise NotFound("No such contact.")
    if contact.merged_into_id:
        raise NotFound(
            "This contact was merged into another one.",
            details={"merged_into": str(contact.merged_into_id)},
        )
    return contact


def identity_list(*, contact: Contact) -> QuerySet[Identity]:
    return Identity.objects.filter(contact=contact)


def identity_get(*, contact: Contact, identity_id) -> Identity:
    identity = (
        identity_list(contact=contact).select_related("contact").filter(pk=identity_id).first()
    )
    if identity is None:
        raise NotFound("No such identity.")
    return identity


def note_list(*, contact: Contact) -> QuerySet[Note]:
    return Note.objects.filter(contact=contact)


def attribute_definition_list(*, workspace: Workspace) -> QuerySet[AttributeDefinition]:
    return AttributeDefinition.objects.filter(workspace=workspace)


def attribute_definition_get(*, workspace: Workspace, attribute_id) -> AttributeDefinition:
    definition = attribute_definition_list(workspace=workspace).filter(pk=attribute_id).first()
    if definition is None:
        raise NotFound("No such attribute.")
    return definition


# --- Duplicates ---------------------------------------------------------------------------

# How sure each reason makes us that two contacts are one person.
REASON_SCORES = {"same_email": 0.95, "same_phone": 0.9, "same_handle": 0.8}
NAME_SIMILARITY_MIN = 0.8
NAME_SCORE_WEIGHT = 0.7
DUPLICATES_MAX = 20


@dataclass(frozen=True)
class Duplicate:
    contact: Contact
    reason: str
    reasons: list[str]
    score: float


def contact_duplicates(*, contact: Contact) -> list[Duplicate]:
    """Likely duplicates of ``contact``, best first, each with its reasons and a score.

    Same email or phone (digits), the same handle on any platform, or a similar name
    (the folded names' similarity ratio at least 0.8). Each reason has a weight; a
    contact found for several reasons scores a little higher than for its best one.
    """
    live = Contact.objects.filter(
        workspace_id=contact.workspace_id, merged_into__isnull=True, erased_at__isnull=True
    ).exclude(pk=contact.pk)
    found: dict = {}

    def add(candidates, reason, score):
        for candidate in candidates:
            entry = found.setdefault(candidate.pk, {"contact": candidate, "reasons": {}})
            entry["reasons"][reason] = max(score, entry["reasons"].get(reason, 0))

    if contact.email:
        add(live.filter(email=contact.email), "same_email", REASON_SCORES["same_email"])
    if len(contact.phone_key) >= 6:
        add(live.filter(phone_key=contact.phone_key), "same_phone", REASON_SCORES["same_phone"])
    handle_keys = {
        key
        for key in Identity.objects.filter(contact=contact).values_list("handle_key", flat=True)
        if key
    }
    if handle_keys:
        add(
            live.filter(
                Exists(
                    Identity.objects.filter(contact_id=OuterRef("pk"), handle_key__in=handle_keys)
                )
            ),
            "same_handle",
            REASON_SCORES["same_handle"],
        )
    name = normalize.fold(contact.name)
    words = [w for w in name.split(" ") if len(w) >= 3]
    if words:
        # Candidates share the start of a word of the name (a typo further on still
        # matches); the similarity ratio of the whole names then decides.
        shared = Q()
        for word in words:
            shared |= Q(search_text__contains=word[:4])
        candidates = live.filter(shared).only("pk", "name")[:500]
        for candidate in candidates:
            ratio = difflib.SequenceMatcher(None, name, normalize.fold(candidate.name)).ratio()
            if ratio >= NAME_SIMILARITY_MIN:
                add([candidate], "similar_name", round(ratio * NAME_SCORE_WEIGHT, 3))

    results = []
    for entry in found.values():
        ranked = sorted(entry["reasons"].items(), key=lambda item: -item[1])
        best = ranked[0][1]
        bonus = 0.02 * (len(ranked) - 1)
        results.append(
            Duplicate(
                contact=entry["contact"],
                reason=ranked[0][0],
                reasons=[reason for reason, _ in ranked],
                score=round(min(0.99, best + bonus), 3),
            )
        )
    results.sort(key=lambda d: (-d.score, str(d.contact.pk)))
    results = results[:DUPLICATES_MAX]
    ids = [d.contact.pk for d in results]
    with_identities = Contact.objects.prefetch_related("identities").in_bulk(ids)
    return [
        Duplicate(
            contact=with_identities[d.contact.pk], reason=d.reason, reasons=d.reasons, score=d.score
        )
        for d in results
    ]


# --- Timeline -----------------------------------------------------------------------------

# Up to this many conversations, a timeline page is one UNION ALL of a page per
# conversation; beyond it, one scan of the contact's messages sorted (see below).
TIMELINE_MERGE_MAX_CONVERSATIONS = 50


class MergedTimeline:
    """The messages of a few conversations newest first, read as DRF's cursor paginator does.

    ``ORDER BY created_at DESC LIMIT n`` over ``conversation_id IN (...)`` cannot come
    from one index in order: PostgreSQL either walks the workspace's whole message index
    newest first, filtering (hundreds of milliseconds at a million messages), or reads
    every message of the contact and sorts them. Each conversation's newest ``n`` messages
    are one short backward scan of its ``(conversation, created_at, id)`` index, and the
    page is the newest ``n`` of their union: one query, a few milliseconds whatever the
    contact's history. The paginator only orders, filters (its cursor position) and
    slices, so this applies each step to every conversation's queryset.
    """

    def __init__(self, parts: list[QuerySet], ordering: tuple = ()):
        self._parts = parts
        self._ordering = ordering

    def order_by(self, *ordering) -> "MergedTimeline":
        return MergedTimeline([qs.order_by(*ordering) for qs in self._parts], ordering)

    def filter(self, *args, **kwargs) -> "MergedTimeline":
        return MergedTimeline([qs.filter(*args, **kwargs) for qs in self._parts], self._ordering)

    def __getitem__(self, window: slice) -> list:
        if not isinstance(window, slice) or window.stop is None:
            raise TypeError("A merged timeline is read by bounded slices only.")
        if not self._parts:
            return []
        if len(self._parts) == 1:
            return list(self._parts[0][window])
        tops = [qs[: window.stop] for qs in self._parts]
        return list(tops[0].union(*tops[1:], all=True).order_by(*self._ordering)[window])


def contact_timeline(*, contact: Contact, actor=None) -> "QuerySet | MergedTimeline":
    """Every message of every conversation of the contact, on any platform.

    With an ``actor``, only the conversations it may see (team visibility), as in the
    inbox. Each message carries its conversation's ``platform``, ``kind`` and
    ``brand_account_id`` as ``conversation_platform``, ``conversation_kind`` and
    ``conversation_brand_account_id``.

    Two queries per page whatever its size: the contact's conversation ids, then the page;
    the caller orders it newest first for keyset pagination.
    """
    from conversations.models import Conversation, Message

    conversations = Conversation.objects.filter(
        workspace_id=contact.workspace_id, contact_id=contact.pk
    )
    if actor is not None:
        from conversations.selectors import conversation_visibility

        conversations = conversations.filter(conversation_visibility(actor))
    conversation_ids = list(conversations.values_list("pk", flat=True))
    # No workspace condition on the messages (their conversations are the workspace's):
    # with one, the planner may walk the workspace's message index newest first.
    messages = Message.objects.annotate(
        conversation_platform=F("conversation__platform"),
        conversation_kind=F("conversation__kind"),
        conversation_brand_account_id=F("conversation__brand_account_id"),
    )
    if (
        len(conversation_ids) > TIMELINE_MERGE_MAX_CONVERSATIONS
        # SQLite (the embedded default) cannot limit each part of a union.
        or not connection.features.supports_slicing_ordering_in_compound
    ):
        return messages.filter(conversation_id__in=conversation_ids)
    return MergedTimeline([messages.filter(conversation_id=pk) for pk in conversation_ids])
