"""The PostgreSQL plans of the inbox use the indexes designed for them.

The tables of a test are tiny, so sequential scans are switched off to ask the planner
which index it *can* use for each query shape.
"""

import pytest
from django.db import connection
from django.db.models import F

from conversations import selectors
from conversations.models import Message


def _plan(queryset) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    return queryset.explain()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("filters", "field", "descending", "indexes"),
    [
        ({"status": ["open"]}, "waiting_since", False, ("conv_ws_status_wait",)),
        # With no statistics the planner may also walk the workspace's recency index and
        # filter on status: either way an ordered index scan, never a sort.
        (
            {"status": ["resolved"]},
            "last_message_at",
            True,
            ("conv_ws_status_recent", "conv_ws_recent"),
        ),
        ({}, "last_message_at", True, ("conv_ws_recent",)),
    ],
    ids=["open_waiting_case", "resolved_recent_case", "all_recent_case"],
)
def test_inbox_pages_read_their_index_in_order(ws, inbox, filters, field, descending, indexes):
    for _ in range(3):
        inbox.conversation()
    queryset = selectors.conversation_list(actor=ws.owner_actor, **filters)
    order = F(field).desc() if descending else F(field).asc(nulls_last=True)

    plan = _plan(queryset.order_by(order, "-pk" if descending else "pk")[:51])

    assert any(index in plan for index in indexes), plan
    assert "Sort" not in plan, plan


@pytest.mark.postgres
def test_message_search_uses_the_full_text_index(ws, inbox):
    inbox.conversation(text="Je voudrais échanger mes chaussures")
    queryset = Message.objects.filter(selectors._TextMatches(F("text"), "chaussure"))

    assert "msg_text_search" in _plan(queryset)
