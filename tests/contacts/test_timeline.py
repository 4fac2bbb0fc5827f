"""The timeline: every message of every conversation of the contact, newest first."""

from datetime import timedelta

from django.utils import timezone

from contacts import selectors as contact_selectors


def test_timeline_spans_platforms_newest_first_with_conversation_and_platform(
    ws, client, make_contact, make_brand_account, make_conversation
):
    contact = make_contact(name="Tim")
    someone_else = make_contact(name="Other")
    start = timezone.now() - timedelta(hours=5)
    fb = make_conversation(contact, make_brand_account("facebook"), ["fb 1", "fb 2"], start=start)
    wa = make_conversation(
        contact,
        make_brand_account("whatsapp"),
        ["wa 1", "wa 2"],
        start=start + timedelta(seconds=30),
    )
    make_conversation(someone_else, make_brand_account("x"), ["not Tim's"], start=start)

    response = client.get(ws.url(f"contacts/{contact.pk}/timeline/"))

    assert response.status_code == 200
    items = response.json()["results"]
    assert [i["text"] for i in items] == ["wa 2", "fb 2", "wa 1", "fb 1"]
    assert [(i["conversation"], i["platform"]) for i in items[:2]] == [
        (str(wa.pk), "whatsapp"),
        (str(fb.pk), "facebook"),
    ]
    assert items[0]["author"]["type"] == "contact"
    assert items[0]["direction"] == "inbound"


def test_timeline_pages_through_everything_once(
    ws, client, make_contact, make_brand_account, make_conversation
):
    contact = make_contact(name="Pager")
    start = timezone.now() - timedelta(days=1)
    for platform in ("facebook", "instagram", "telegram"):
        texts = [f"{platform} {i}" for i in range(5)]
        make_conversation(contact, make_brand_account(platform), texts, start=start)

    seen, url = [], ws.url(f"contacts/{contact.pk}/timeline/?page_size=4")
    while url:
        page = client.get(url).json()
        seen += [(i["created_at"], i["id"]) for i in page["results"]]
        url = page["next"]

    assert len(seen) == 15
    assert len(set(seen)) == 15
    assert seen == sorted(seen, reverse=True)


def _walk(client, url: str) -> tuple[list, list]:
    """The pages' ids following ``next`` from ``url``, then ``previous`` back from the last."""
    forward, backward = [], []
    while url:
        page = client.get(url).json()
        forward.append([i["id"] for i in page["results"]])
        last, url = page, page["next"]
    url = last["previous"]
    while url:
        page = client.get(url).json()
        backward.append([i["id"] for i in page["results"]])
        url = page["previous"]
    return forward, backward


def test_timeline_pages_alike_through_ties_whichever_the_plan(
    ws, client, make_contact, make_brand_account, make_conversation, monkeypatch
):
    # Up to TIMELINE_MERGE_MAX_CONVERSATIONS a page is the union of a page per
    # conversation, beyond it one scan of the contact's messages: both page alike, forward
    # and back, through ties (the three conversations' messages share their times).
    contact = make_contact(name="Ties")
    start = timezone.now() - timedelta(days=1)
    for platform in ("facebook", "instagram", "telegram"):
        make_conversation(contact, make_brand_account(platform), ["a", "b", "c"], start=start)
    url = ws.url(f"contacts/{contact.pk}/timeline/?page_size=2")

    merged = _walk(client, url)
    monkeypatch.setattr(contact_selectors, "TIMELINE_MERGE_MAX_CONVERSATIONS", 1)
    one_scan = _walk(client, url)

    assert merged == one_scan
    everything = client.get(ws.url(f"contacts/{contact.pk}/timeline/?page_size=100")).json()
    assert [i for page in merged[0] for i in page] == [i["id"] for i in everything["results"]]
    assert len(everything["results"]) == 9
    assert len(merged[1]) >= 1


def test_timeline_query_count_does_not_depend_on_the_page_size(
    ws, client, make_contact, make_brand_account, make_conversation, django_assert_num_queries
):
    contact = make_contact(name="Counted")
    for platform in ("facebook", "whatsapp", "x", "email"):
        make_conversation(contact, make_brand_account(platform), [f"m{i}" for i in range(10)])
    url = ws.url(f"contacts/{contact.pk}/timeline/")
    client.get(url, {"page_size": 2})  # warm caches (content types, ...)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert len(client.get(url, {"page_size": 2}).json()["results"]) == 2
    with django_assert_num_queries(len(small.captured_queries)):
        assert len(client.get(url, {"page_size": 40}).json()["results"]) == 40
    with django_assert_num_queries(len(small.captured_queries)):
        assert len(client.get(url, {"page_size": 5}).json()["results"]) == 5


def test_the_timeline_of_another_workspaces_contact_is_not_found(
    ws, other_ws, client, make_contact
):
    theirs = make_contact(workspace=other_ws, name="Theirs")

    assert client.get(ws.url(f"contacts/{theirs.pk}/timeline/")).status_code == 404


def test_timeline_respects_team_visibility_and_hides_deleted_text_from_non_admins(
    ws, client, make_contact, make_brand_account, make_conversation
):
    from conversations.models import Message
    from crm.services.workspaces import team_create
    from tests.conftest import client_with

    contact = make_contact(name="Vera")
    support = team_create(actor=ws.owner_actor, name="Support")
    billing = team_create(actor=ws.owner_actor, name="Billing")
    agent, agent_token = ws.add_member("agent")
    support.members.add(agent)
    start = timezone.now() - timedelta(hours=2)
    theirs = make_conversation(
        contact,
        make_brand_account("facebook"),
        ["billing question"],
        start=start - timedelta(hours=1),
    )
    mine = make_conversation(
        contact, make_brand_account("whatsapp"), ["support question", "oops"], start=start
    )
    type(theirs).objects.filter(pk=theirs.pk).update(team=billing)
    type(mine).objects.filter(pk=mine.pk).update(team=support)
    Message.objects.filter(text="oops").update(deleted_at=timezone.now())
    ws.workspace.agents_see_only_their_teams = True
    ws.workspace.save()

    as_agent = client_with(agent_token).get(ws.url(f"contacts/{contact.pk}/timeline/")).json()
    as_admin = client.get(ws.url(f"contacts/{contact.pk}/timeline/")).json()

    assert [i["text"] for i in as_agent["results"]] == ["", "support question"]
    assert [i["text"] for i in as_admin["results"]] == [
        "oops",
        "support question",
        "billing question",
    ]
