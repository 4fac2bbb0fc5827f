"""WordPress comments end to end: the poller and the backfill read the emulated comments
API over real HTTP; replies go out as comments; moderation states follow the site."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from contacts.models import Contact, Identity
from conversations.models import Conversation, Message
from integrations.emulator.scenarios import wordpress_comment
from integrations.models import BrandAccount, InboundEvent
from integrations.services import outbound
from integrations.services.polling import (
    account_polls,
    brand_account_backfill_start,
    brand_account_backfill_step,
    brand_account_poll,
)
from integrations.services.processing import inbound_events_drain
from tests.conftest import client_with

from .conftest import queued_reply

SITE = "https://blog.example.com"


@pytest.fixture
def blog(make_workspace, creds, emu, settings):
    """A workspace with the test blog connected through the API, played by the emulator."""
    settings.CAUSERIE_WORDPRESS_API_URL = emu.base_url
    settings.CAUSERIE_SEND_RATE_LIMITS = {}
    ws = make_workspace("blog")
    external_id, credentials = creds["wordpress"]
    response = client_with(ws.token).post(
        ws.url("brand-accounts/"),
        {
            "platform": "wordpress",
            "name": "Blog",
            "external_id": external_id,
            "credentials": credentials,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    account = BrandAccount.objects.get(pk=response.json()["id"])
    # The backfill queued on connection runs after commit, which this test never reaches.
    BrandAccount.objects.filter(pk=account.pk).update(backfill_status="idle")
    account.refresh_from_db()
    return ws, account


def comment(comment_id, text, *, post=7, parent=0, status="approved", who="Jane Doe", **extra):
    extra.setdefault("date_gmt", f"2024-06-10T10:{comment_id % 60:02d}:00")
    return wordpress_comment(
        comment_id,
        post,
        text,
        author_name=who,
        author_email=f"{who.split()[0].lower()}@client.example",
        parent=parent,
        status=status,
        **extra,
    )


def drain() -> None:
    """Process everything stored, however slow the machine is today."""
    while inbound_events_drain(budget_seconds=60):
        pass


def poll_all(account) -> int:
    """Poll until a walk is complete, then process what was stored."""
    stored = brand_account_poll(account_id=account.pk)
    account.refresh_from_db()
    while account.poll_cursor.get("walk_started"):
        stored += brand_account_poll(account_id=account.pk)
        account.refresh_from_db()
    drain()
    return stored


def test_comments_are_polled_across_pages_one_thread_per_post(blog, emu):
    _, account = blog
    assert account_polls(account)
    comments = [comment(n, f"Comment {n} 💬", post=7 + n % 3) for n in range(1, 251)]
    emu.queue_wordpress_comments(SITE, comments)

    assert poll_all(account) == 250

    requests = [r for r in emu.requests("wordpress") if r["method"] == "GET"]
    assert [r["query"]["page"] for r in requests] == ["1", "2", "3"]
    assert {r["query"]["per_page"] for r in requests} == {"100"}
    assert all(r["headers"]["authorization"].startswith("Basic ") for r in requests)
    assert Message.objects.count() == 250
    assert sorted(Conversation.objects.values_list("thread_key", flat=True)) == [
        "post:7",
        "post:8",
        "post:9",
    ]
    assert set(Conversation.objects.values_list("kind", flat=True)) == {"comment_thread"}
    account.refresh_from_db()
    assert account.poll_cursor["page"] == 1
    assert account.poll_cursor["modified_after"]
    # The next walk asks only for what changed since, and finds nothing new.
    assert poll_all(account) == 0
    assert "modified_after" in emu.last_request("wordpress")["query"]
    assert Message.objects.count() == 250


def test_replies_thread_by_parent_and_authors_become_identities(blog, emu):
    _, account = blog
    emu.queue_wordpress_comments(
        SITE,
        [
            comment(1, "Great recipe! Can I use less sugar?"),
            comment(2, "I tried with half, it works.", parent=1, who="Bob Martin"),
            comment(3, "Thanks Bob!", parent=2),
            comment(4, "Registered reader here", author=12, who="Carla Reader"),
        ],
    )

    poll_all(account)

    by_id = {m.external_id: m for m in Message.objects.all()}
    assert by_id["1"].parent_id is None
    assert by_id["2"].parent_id == by_id["1"].pk
    assert by_id["3"].parent_id == by_id["2"].pk
    jane = Identity.objects.get(external_id="guest:jane@client.example")
    assert (jane.platform, jane.display_name) == ("wordpress", "Jane Doe")
    assert jane.avatar_url.endswith("?s=96&d=mm&r=g")
    assert Identity.objects.get(external_id="12").display_name == "Carla Reader"
    # Jane wrote twice: one person.
    assert Message.objects.get(external_id="3").conversation.contact_id == jane.contact_id
    assert Contact.objects.count() == 3


def test_moderation_states_are_kept_and_follow_the_site(blog, emu):
    ws, account = blog
    emu.queue_wordpress_comments(
        SITE,
        [
            comment(1, "Lovely post"),
            comment(2, "Cheap watches here", status="spam", who="Spam Bot"),
            comment(3, "Waiting for approval", status="hold"),
            comment(4, "Deleted by the editor", status="trash"),
        ],
    )
    poll_all(account)
    status = dict(
        Message.objects.values_list("external_id", "platform_metadata__moderation_status")
    )
    assert status == {"1": "approved", "2": "spam", "3": "hold", "4": "trash"}

    emu.queue_wordpress_comments(
        SITE, [{"id": 3, "status": "approved"}, {"id": 1, "status": "trash"}]
    )
    poll_all(account)

    status = dict(
        Message.objects.values_list("external_id", "platform_metadata__moderation_status")
    )
    assert status == {"1": "trash", "2": "spam", "3": "approved", "4": "trash"}
    conversation = Conversation.objects.get()
    listed = client_with(ws.token).get(ws.url(f"conversations/{conversation.pk}/messages/")).json()
    shown = {
        m["external_id"]: m["platform_metadata"]["moderation_status"] for m in listed["results"]
    }
    assert shown["3"] == "approved"
    assert Message.objects.count() == 4
    assert not Message.objects.filter(edits__isnull=False).exists()


def test_an_edited_comment_is_picked_up_with_its_history(blog, emu):
    _, account = blog
    emu.queue_wordpress_comments(SITE, [comment(1, "Typo in the recipe: 200g of suger")])
    poll_all(account)

    emu.queue_wordpress_comments(
        SITE,
        [
            {
                "id": 1,
                "content": {"raw": "Typo in the recipe: 200g of sugar", "rendered": "<p>…</p>"},
            }
        ],
    )
    assert poll_all(account) == 1

    message = Message.objects.get()
    assert message.text == "Typo in the recipe: 200g of sugar"
    assert list(message.edits.values_list("previous_text", flat=True)) == [
        "Typo in the recipe: 200g of suger"
    ]


def test_a_reply_is_posted_as_a_comment_under_the_one_it_answers(
    blog, emu, django_capture_on_commit_callbacks
):
    ws, account = blog
    emu.queue_wordpress_comments(SITE, [comment(1, "Question"), comment(2, "Follow-up", parent=1)])
    poll_all(account)
    conversation = Conversation.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_with(ws.token).post(
            ws.url(f"conversations/{conversation.pk}/messages/"),
            {"text": "Thanks for asking, the answer is in the post's update."},
            format="json",
        )

    assert response.status_code == 202
    reply = Message.objects.get(pk=response.json()["id"])
    assert reply.status == "sent"
    sent = [r for r in emu.requests("wordpress") if r["method"] == "POST"][-1]
    assert sent["path"] == "/wp-json/wp/v2/comments"
    assert sent["body"] == {
        "post": 7,
        "parent": 2,
        "content": "Thanks for asking, the answer is in the post's update.",
    }
    assert reply.external_id == str(sent["response"]["id"])
    # The next poll reads our own comment back: no new message, no contact for the brand.
    contacts = Contact.objects.count()
    poll_all(account)
    assert Message.objects.count() == 3
    assert Contact.objects.count() == contacts
    reply.refresh_from_db()
    assert reply.platform_metadata["moderation_status"] == "approved"


def test_a_rate_limited_comment_waits_as_long_as_the_site_asks(blog, emu):
    _, account = blog
    emu.queue_wordpress_comments(SITE, [comment(1, "Question")])
    poll_all(account)
    message = queued_reply(Conversation.objects.get(), "Answer")
    emu.set_fault("wordpress", "rate_limit", retry_after=9)

    with pytest.raises(outbound.RetryLater) as caught:
        outbound.outbound_send(message_id=message.pk)

    assert caught.value.seconds == 9
    assert outbound.outbound_send(message_id=message.pk) == "sent"


def test_polling_defers_on_a_rate_limit_and_stops_on_refused_credentials(blog, emu):
    _, account = blog
    emu.queue_wordpress_comments(SITE, [comment(1, "Question")])
    emu.set_fault("wordpress", "rate_limit", retry_after=30)

    assert brand_account_poll(account_id=account.pk) == 0
    account.refresh_from_db()
    assert account.poll_cursor == {}
    assert brand_account_poll(account_id=account.pk) == 1

    emu.set_fault("wordpress", "auth")
    assert brand_account_poll(account_id=account.pk) == 0
    account.refresh_from_db()
    assert account.status == "error"
    assert "credentials refused" in account.last_error


def test_backfill_reads_the_recent_comments_page_by_page(blog, emu):
    ws, account = blog
    recent = (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
    emu.queue_wordpress_comments(
        SITE,
        [comment(n, f"Recent comment {n}", date_gmt=recent) for n in range(1, 151)]
        + [comment(n, f"Comment from 2024 {n}") for n in range(151, 156)],
    )
    account = brand_account_backfill_start(actor=ws.owner_actor, account=account)

    while brand_account_backfill_step(account_id=account.pk):
        pass
    drain()

    account.refresh_from_db()
    assert (account.backfill_status, account.backfill_items) == ("done", 150)
    gets = [r["query"] for r in emu.requests("wordpress") if r["method"] == "GET"]
    assert [q["page"] for q in gets] == ["1", "2"]
    assert all("after" in q for q in gets)
    assert Message.objects.count() == 150
    assert InboundEvent.objects.filter(status="processed").count() == 150


def test_a_blog_at_an_internal_address_is_never_polled(blog, emu, settings):
    _, account = blog
    settings.CAUSERIE_WORDPRESS_API_URL = ""
    BrandAccount.objects.filter(pk=account.pk).update(external_id="http://169.254.169.254/blog")

    assert brand_account_poll(account_id=account.pk) == 0

    account.refresh_from_db()
    assert account.status == "error"
    assert account.last_error.startswith("unsafe_site_url")
    assert not emu.requests("wordpress")


def test_a_comment_deleted_for_good_mid_walk_does_not_hide_the_next_ones(blog, emu, creds):
    _, account = blog
    emu.queue_wordpress_comments(SITE, [comment(n, f"Comment {n}") for n in range(1, 251)])
    assert brand_account_poll(account_id=account.pk) == 100  # page 1: comments 1-100

    # The site's owner deletes comment 5 for good: 101 moves onto page 1, already read.
    username, password = (creds["wordpress"][1][k] for k in ("username", "application_password"))
    deleted = httpx.delete(
        f"{emu.base_url}/wp-json/wp/v2/comments/5",
        params={"force": "true"},
        auth=(username, password),
    )
    assert deleted.json()["deleted"] is True

    account.refresh_from_db()
    while account.poll_cursor.get("walk_started"):
        brand_account_poll(account_id=account.pk)
        account.refresh_from_db()
    drain()

    assert sorted(int(i) for i in Message.objects.values_list("external_id", flat=True)) == list(
        range(1, 251)
    )
    # Read once each: the pages read again after the delete passed on only the unread ones.
    assert InboundEvent.objects.count() == 250


def test_comments_deleted_past_the_page_in_reach_send_the_walk_back(blog, emu, creds):
    _, account = blog
    emu.queue_wordpress_comments(SITE, [comment(n, f"Comment {n}") for n in range(1, 251)])
    brand_account_poll(account_id=account.pk)
    brand_account_poll(account_id=account.pk)  # pages 1 and 2: comments 1-200

    # Sixty comments go for good: page 3 no longer exists, 201-250 are on page 2 now.
    auth = tuple(creds["wordpress"][1][k] for k in ("username", "application_password"))
    for comment_id in range(1, 61):
        url = f"{emu.base_url}/wp-json/wp/v2/comments/{comment_id}"
        assert httpx.delete(url, params={"force": "true"}, auth=auth).status_code == 200

    account.refresh_from_db()
    while account.poll_cursor.get("walk_started"):
        brand_account_poll(account_id=account.pk)
        account.refresh_from_db()
    drain()

    assert Message.objects.count() == 250
    assert InboundEvent.objects.count() == 250
