"""The inbox list: every filter, both orders, keyset pages, a constant number of queries."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from conversations.services.conversations import ConversationChanges, conversation_update
from conversations.services.library import label_create
from crm.services.workspaces import team_create


def _ids(response):
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def _update(ws, conversation, **changes):
    conversation_update(
        actor=ws.owner_actor, conversation=conversation, changes=ConversationChanges(**changes)
    )


def test_open_conversations_are_listed_waiting_longest_first(ws, client, inbox):
    newest = inbox.conversation(ago=timedelta(minutes=1))
    oldest = inbox.conversation(ago=timedelta(hours=3))
    middle = inbox.conversation(ago=timedelta(hours=1))
    answered = inbox.conversation(ago=timedelta(hours=5))
    client.post(ws.url(f"conversations/{answered.pk}/messages/"), {"text": "done"}, format="json")

    ids = _ids(client.get(ws.url("conversations/?status=open")))

    # Nobody waits on the answered one: it comes after every waiting customer.
    assert ids == [str(oldest.pk), str(middle.pk), str(newest.pk), str(answered.pk)]


def test_other_lists_show_the_most_recent_activity_first_and_sort_is_selectable(ws, client, inbox):
    old = inbox.conversation(ago=timedelta(hours=3))
    new = inbox.conversation(ago=timedelta(minutes=3))

    assert _ids(client.get(ws.url("conversations/"))) == [str(new.pk), str(old.pk)]
    assert _ids(client.get(ws.url("conversations/?status=open&sort=recent"))) == [
        str(new.pk),
        str(old.pk),
    ]
    assert _ids(client.get(ws.url("conversations/?sort=waiting"))) == [str(old.pk), str(new.pk)]


@pytest.mark.parametrize("sort", ["waiting", "recent"])
def test_pages_cover_every_row_once_forwards_and_backwards(ws, client, inbox, sort):
    now = timezone.now()
    made = [inbox.conversation(at=now - timedelta(minutes=i % 3)) for i in range(7)]
    for conversation in made[:2]:  # some rows with nobody waiting (nulls) as well
        client.post(ws.url(f"conversations/{conversation.pk}/messages/"), {"text": "x"})

    pages, url = [], ws.url(f"conversations/?sort={sort}&page_size=3")
    while url:
        body = client.get(url).json()
        pages.append([row["id"] for row in body["results"]])
        url = body["next"]
    seen = [i for page in pages for i in page]
    assert sorted(seen) == sorted(str(c.pk) for c in made)
    assert len(seen) == len(set(seen))
    assert [len(p) for p in pages] == [3, 3, 1]

    # Walking back from the last page gives the same pages.
    last = client.get(ws.url(f"conversations/?sort={sort}&page_size=3")).json()
    last = client.get(client.get(last["next"]).json()["next"]).json()
    back = client.get(last["previous"]).json()
    assert [row["id"] for row in back["results"]] == pages[1]
    first = client.get(back["previous"]).json()
    assert [row["id"] for row in first["results"]] == pages[0]
    assert first["previous"] is None


def test_every_filter_of_the_contract(ws, client, inbox):
    agent, agent_token = ws.add_member("agent")
    team = team_create(actor=ws.owner_actor, name="Billing")
    label = label_create(actor=ws.owner_actor, name="refund")
    jane = inbox.contact("Jane")

    target = inbox.conversation(platform="instagram", contact=jane, kind="comment_thread")
    _update(ws, target, assignee=agent, team=team, labels=[label], priority="high")
    other = inbox.conversation(platform="facebook")
    _update(ws, other, status="pending")
    target.refresh_from_db()
    cutoff = target.updated_at - timedelta(seconds=1)
    other_account = inbox.account("instagram")

    cases = {
        "status=open": [target],
        "status=pending,open": [target, other],
        f"assignee={agent.pk}": [target],
        "assignee=none": [other],
        f"team={team.pk}": [target],
        "team=none": [other],
        f"label={label.pk}": [target],
        "label=refund": [target],
        "platform=instagram": [target],
        "platform=facebook,instagram": [target, other],
        f"brand_account={other_account.pk}": [target],
        "kind=comment_thread": [target],
        "kind=direct": [other],
        "priority=high": [target],
        "priority=none,low": [other],
        f"contact={jane.pk}": [target],
        f"updated_after={cutoff.isoformat().replace('+00:00', 'Z')}": [target, other],
    }
    for query, expected in cases.items():
        got = _ids(client.get(ws.url("conversations/"), dict([query.split("=", 1)])))
        assert sorted(got) == sorted(str(c.pk) for c in expected), query

    from tests.conftest import client_with

    mine = _ids(client_with(agent_token).get(ws.url("conversations/?assignee=me")))
    assert mine == [str(target.pk)]
    assert _ids(client.get(ws.url("conversations/?assignee=me"))) == []


@pytest.mark.parametrize(
    "query",
    ["status=closed", "assignee=bob", "team=x", "priority=asap", "updated_after=yesterday"],
)
def test_bad_filters_are_validation_errors(ws, client, query):
    response = client.get(ws.url(f"conversations/?{query}"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_each_row_has_the_contact_the_preview_and_the_unread_count(ws, client, inbox):
    conversation = inbox.conversation(contact=inbox.contact("Jane Roe", email="j@x.test"))
    inbox.inbound(thread=conversation.thread_key, contact=conversation.contact, text="Hello?")

    row = client.get(ws.url("conversations/")).json()["results"][0]

    assert row["contact_summary"]["name"] == "Jane Roe"
    assert row["contact_summary"]["email"] == "j@x.test"
    assert row["last_message_preview"] == "Hello?"
    assert row["unread_count"] == 2


def test_q_searches_message_text(ws, client, inbox):
    match = inbox.conversation(text="My parcel never arrived")
    inbox.conversation(text="Do you ship to Spain?")

    assert _ids(client.get(ws.url("conversations/?q=parcel"))) == [str(match.pk)]
    assert _ids(client.get(ws.url("conversations/?q=PARCEL arrived"))) == [str(match.pk)]


# The page, with each row's contact and, on PostgreSQL, its label ids (elsewhere the
# page's labels are one more query). The credential, and a member's membership with its
# workspace, are remembered from the warming request (crm.process_cache); the team
# restriction is a subquery of the page query.
QUERIES_PER_INBOX_PAGE = 1 if settings.DATABASE_IS_POSTGRES else 2
QUERIES_PER_INBOX_PAGE_FOR_A_MEMBER = QUERIES_PER_INBOX_PAGE


def test_the_number_of_queries_does_not_grow_with_the_page(
    ws, client, inbox, django_assert_num_queries
):
    team = team_create(actor=ws.owner_actor, name="Support")
    labels = [label_create(actor=ws.owner_actor, name=f"l{i}") for i in range(3)]
    for i in range(30):
        conversation = inbox.conversation(ago=timedelta(minutes=i))
        _update(ws, conversation, team=team, labels=labels[: i % 3 + 1])
    client.get(ws.url("conversations/?page_size=1"))  # warm the credential caches

    for page_size in (5, 30):
        with django_assert_num_queries(QUERIES_PER_INBOX_PAGE):
            response = client.get(ws.url(f"conversations/?status=open&page_size={page_size}"))
        assert len(response.json()["results"]) == page_size
    with django_assert_num_queries(QUERIES_PER_INBOX_PAGE):
        client.get(ws.url(f"conversations/?status=open&team={team.pk}&page_size=20"))
    with django_assert_num_queries(QUERIES_PER_INBOX_PAGE):
        client.get(ws.url("conversations/?page_size=25&q=Hello"))


def test_a_restricted_agents_inbox_also_costs_a_fixed_number_of_queries(
    ws, inbox, django_assert_num_queries
):
    from crm.models import Workspace
    from tests.conftest import client_with

    Workspace.objects.filter(pk=ws.workspace.pk).update(agents_see_only_their_teams=True)
    agent, token = ws.add_member("agent")
    team = team_create(actor=ws.owner_actor, name="Support", member_ids=[agent.pk])
    for i in range(12):
        _update(ws, inbox.conversation(ago=timedelta(minutes=i)), team=team)
    client = client_with(token)
    client.get(ws.url("conversations/?page_size=1"))

    for page_size in (3, 12):
        with django_assert_num_queries(QUERIES_PER_INBOX_PAGE_FOR_A_MEMBER):
            response = client.get(ws.url(f"conversations/?page_size={page_size}"))
        assert len(response.json()["results"]) == page_size


def test_inbox_rows_are_the_conversations_of_the_list_for_a_restricted_agent(ws, inbox):
    from conversations import selectors
    from crm.actors import Actor
    from crm.models import Membership, Workspace

    Workspace.objects.filter(pk=ws.workspace.pk).update(agents_see_only_their_teams=True)
    agent, _token = ws.add_member("agent")
    team = team_create(actor=ws.owner_actor, name="Support", member_ids=[agent.pk])
    theirs = inbox.conversation()
    _update(ws, theirs, team=team)
    mine = inbox.conversation()
    _update(ws, mine, assignee=agent)
    inbox.conversation()  # another team's or nobody's: out of the agent's sight
    label = label_create(actor=ws.owner_actor, name="VIP", color="#ff0000")
    _update(ws, mine, add_labels=[label])
    actor = Actor.for_member(Membership.objects.select_related("workspace").get(pk=agent.pk))

    for filters in ({}, {"status": ["open"]}, {"assignee": "me"}, {"label": "VIP"}):
        conversations = selectors.conversation_list(actor=actor, **filters)
        rows = selectors.conversation_list(actor=actor, rows=True, **filters)
        assert sorted(row["id"] for row in rows) == sorted(c.pk for c in conversations)
    assert sorted(row["id"] for row in selectors.conversation_list(actor=actor, rows=True)) == (
        sorted([theirs.pk, mine.pk])
    )
