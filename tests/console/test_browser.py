"""The console in a real headless browser, against a real server and the emulator.

A member signs in, watches a customer's message that the emulator delivers arrive live,
answers it and sees the reply turn ``sent``; another member's presence shows up; after
the server goes away and comes back, the console resumes from the last ``seq`` it saw
and says what it missed.
"""

import time

import pytest
from playwright.sync_api import Page, expect

from conversations.models import Conversation
from conversations.services.conversations import ConversationChanges, conversation_update
from conversations.services.library import canned_response_create, label_create
from crm.actors import Actor
from crm.models import Event
from crm.models_realtime import RealtimeTicket
from integrations.emulator import scenarios
from integrations.services.inbound import KICK_INTERVAL_SECONDS

from .conftest import PASSWORD, off_the_browser_thread, screenshot

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LIVE = 15_000  # ms: what arrives over the websocket arrives well within this
_update_ids = iter(range(1, 1_000_000))


def sign_in(page: Page, base_url: str, email: str, workspace_name: str) -> None:
    """Sign in through the form, pick the workspace, wait until the inbox is live."""
    page.goto(f"{base_url}/console/")
    expect(page).to_have_url(f"{base_url}/console/login/?next=/console/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name=workspace_name).click()
    expect(page.locator("#connection")).to_have_text("Live", timeout=LIVE)


# Text whose contrast with its background is under WCAG AA (4.5:1), as "selector: ratio".
CONTRAST_BELOW_AA = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text || !el.offsetParent) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${el.tagName.toLowerCase()}.${el.className}: ${ratio.toFixed(2)}`);
  }
  return low;
}"""


_last_delivery = {"at": 0.0}


def deliver(desk, payload: dict) -> None:
    """The emulator delivers a Telegram update, signed, at the bot's webhook.

    A server kicks inbound processing at most once per KICK_INTERVAL_SECONDS; an update
    stored just after a kick waits for the next kick or for beat's sweep, and this server
    runs no beat. Deliveries are spaced so that each one is processed at once.
    """
    wait = _last_delivery["at"] + KICK_INTERVAL_SECONDS + 0.2 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    answer = desk.emulator.deliver(
        "telegram", desk.account.webhook_url, payload, account=desk.account.external_id
    )
    _last_delivery["at"] = time.monotonic()
    assert answer["status"] == 200, answer


def customer_writes(
    desk, text: str, *, chat_id: int = 424242, first_name: str = "Camille", **options
) -> int:
    """A customer's Telegram message (``options``: ``reply_to``, ``photo``); its id."""
    update_id = next(_update_ids)
    deliver(
        desk,
        scenarios.telegram_message(
            update_id,
            chat_id,
            update_id,
            text,
            date=int(time.time()),
            first_name=first_name,
            username=first_name.lower(),
            **options,
        ),
    )
    return update_id


def test_a_member_answers_a_customer_live_and_sees_a_colleague_there(browser, console_server, desk):
    actor = Actor.for_member(desk.owner)
    off_the_browser_thread(label_create, actor=actor, name="Delivery")
    off_the_browser_thread(
        canned_response_create,
        actor=actor,
        name="Greeting",
        text="Hello {{contact.name}}, thanks for writing.",
    )
    alice_context = browser.new_context(viewport={"width": 1366, "height": 860})
    alice = alice_context.new_page()
    sign_in(alice, console_server.url, "alice@support.test", "Support desk")
    expect(alice.locator("#list-status")).to_have_text("No conversations match these filters.")
    loaded_at = alice.evaluate("performance.timeOrigin")

    # The emulator delivers a customer's message: it arrives without a reload.
    customer_writes(desk, "Where is my parcel?")
    row = alice.locator("#conversation-list .row", has_text="Where is my parcel?")
    expect(row).to_be_visible(timeout=LIVE)
    expect(row).to_contain_text("Camille")
    expect(row).to_contain_text("1 unread")
    assert alice.evaluate("performance.timeOrigin") == loaded_at

    row.click()
    expect(alice.locator("#conversation-title")).to_have_text("Camille")
    expect(alice.locator("#thread .message.inbound")).to_contain_text("Where is my parcel?")
    expect(alice.locator("#reply-window")).to_contain_text("Reply window open")
    expect(alice.locator("#identities")).to_contain_text("Telegram")
    expect(alice.locator("#timeline")).to_contain_text("Where is my parcel?")

    # A colleague opens the same conversation: Alice sees Bob viewing, then typing.
    bob_context = browser.new_context(viewport={"width": 1366, "height": 860})
    bob = bob_context.new_page()
    sign_in(bob, console_server.url, "bob@support.test", "Support desk")
    # Bob starts his reply while the thread is still loading (held here): it loads
    # without taking the composer, or his keystrokes, away from him.
    held_thread = []
    bob.route(lambda url: "/messages/" in url, lambda route: held_thread.append(route))
    bob.locator("#conversation-list .row", has_text="Where is my parcel?").click()
    expect(alice.locator("#presence")).to_have_text("Bob Agent is viewing", timeout=LIVE)
    bob.locator("#reply-text").press_sequentially("On it")
    expect(alice.locator("#presence")).to_have_text("Bob Agent is typing…", timeout=LIVE)
    assert held_thread, "the thread's request was not held"
    for request in held_thread:
        request.continue_()
    bob.unroute_all()
    expect(bob.locator("#thread .message.inbound")).to_contain_text("Where is my parcel?")
    expect(bob.locator("#timeline")).to_contain_text("Where is my parcel?")
    expect(bob.locator("#presence")).to_have_text("Alice Owner is viewing", timeout=LIVE)
    expect(bob.locator("#reply-text")).to_be_focused()
    expect(bob.locator("#reply-text")).to_have_value("On it")

    # Alice answers with the canned response, filled for this contact.
    alice.get_by_label("Canned response").select_option(label="Greeting")
    expect(alice.get_by_label("Reply", exact=True)).to_have_value(
        "Hello Camille, thanks for writing."
    )
    alice.get_by_role("button", name="Send").click()
    reply = alice.locator("#thread .message.outbound", has_text="Hello Camille")
    expect(reply).to_be_visible()
    expect(reply.locator(".status")).to_have_text("sent", timeout=LIVE)
    sent = [r for r in desk.emulator.requests("telegram") if "sendMessage" in r["path"]]
    assert sent, "the emulator received no sendMessage"
    assert "Hello Camille, thanks for writing." in str(sent[-1]), sent
    # Bob's thread shows the reply too, and its delivery.
    expect(bob.locator("#thread .message.outbound .status")).to_have_text("sent", timeout=LIVE)

    # A private note, styled apart, never sent.
    alice.get_by_label("Private note").check()
    alice.get_by_label("Private note (only members see it)").fill("Parcel stuck in Lyon")
    alice.get_by_role("button", name="Add note").click()
    note = alice.locator("#thread .message.note", has_text="Parcel stuck in Lyon")
    expect(note).to_contain_text("Private note")
    expect(bob.locator("#thread .message.note")).to_contain_text(
        "Parcel stuck in Lyon", timeout=LIVE
    )

    # Actions: Alice's changes reach Bob's open conversation without a reload.
    alice.get_by_label("Priority").select_option("high")
    alice.get_by_label("Delivery").check()
    alice.get_by_label("Assignee").select_option(label="Bob Agent")
    expect(bob.get_by_label("Priority")).to_have_value("high", timeout=LIVE)
    expect(bob.get_by_label("Delivery")).to_be_checked(timeout=LIVE)
    expect(bob.get_by_label("Assignee")).to_have_value(str(desk.agent.pk), timeout=LIVE)
    # Bob's "Mine" view now lists it.
    bob.get_by_label("Show").select_option("me")
    expect(bob.locator("#conversation-list .row")).to_have_count(1)

    # A second customer message lands in both inboxes, in the open thread too.
    customer_writes(desk, "Thank you!")
    expect(alice.locator("#thread .message.inbound", has_text="Thank you!")).to_be_visible(
        timeout=LIVE
    )
    expect(bob.locator("#thread .message.inbound", has_text="Thank you!")).to_be_visible(
        timeout=LIVE
    )
    expect(bob.locator("#conversation-list .row")).to_contain_text("1 unread", timeout=LIVE)
    # The contact's cross-channel timeline follows too.
    expect(alice.locator("#timeline")).to_contain_text("Thank you!", timeout=LIVE)
    expect(alice.locator("#timeline")).to_contain_text("Hello Camille")
    bob.locator("#reply-text").press_sequentially(" and on it")
    expect(alice.locator("#presence")).to_have_text("Bob Agent is typing…", timeout=LIVE)
    screenshot(alice, "conversation")

    bob_context.close()
    # Bob left: his presence is withdrawn.
    expect(alice.locator("#presence")).to_have_text("", timeout=LIVE)
    alice_context.close()


def test_after_a_network_drop_the_console_resumes_and_shows_what_it_missed(
    browser, console_server, desk
):
    customer_writes(desk, "Is anyone there?")
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    try:
        sign_in(page, console_server.url, "alice@support.test", "Support desk")
        expect(page.locator("#conversation-list .row")).to_contain_text(
            "Is anyone there?", timeout=LIVE
        )
        conversation = Conversation.objects.get(workspace__slug=desk.slug)
        row = page.locator(f'#conversation-list .row[data-conversation="{conversation.pk}"]')
        tickets_before = RealtimeTicket.objects.count()

        console_server.stop()
        expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
        # Changes committed while the console cannot hear them.
        off_the_browser_thread(
            conversation_update,
            actor=Actor.for_member(desk.owner),
            conversation=conversation,
            changes=ConversationChanges(priority="urgent"),
        )
        console_server.start()

        expect(page.locator("#connection")).to_have_text("Live", timeout=30_000)
        expect(page.locator("#notice")).to_contain_text(
            "1 update arrived while you were offline", timeout=LIVE
        )
        expect(row).to_contain_text("while offline")
        expect(row).to_contain_text("urgent")
        # It came back with a new single-use ticket.
        assert RealtimeTicket.objects.count() > tickets_before

        # Away longer than the log keeps: what it missed was pruned. The server answers
        # resync; the console reloads through REST and goes on from the log's seq.
        console_server.stop()
        expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
        last_seen = Event.objects.filter(workspace__slug=desk.slug).order_by("seq").last().seq
        off_the_browser_thread(
            conversation_update,
            actor=Actor.for_member(desk.owner),
            conversation=conversation,
            changes=ConversationChanges(priority="low"),
        )
        Event.objects.filter(workspace__slug=desk.slug, seq__gt=last_seen).delete()
        console_server.start()
        expect(page.locator("#notice")).to_have_text(
            "The inbox was out of date and has been reloaded.", timeout=30_000
        )
        expect(row).to_contain_text("low")
        expect(row).not_to_contain_text("urgent")
        expect(page.locator("#connection")).to_have_text("Live")
        # Subscribed again from the log's seq: later changes arrive live.
        customer_writes(desk, "Still there?")
        expect(row).to_contain_text("Still there?", timeout=LIVE)
    finally:
        if console_server.process is None:
            console_server.start()
        context.close()


def test_the_console_works_by_keyboard_and_one_pane_at_a_time_on_a_phone(
    browser, console_server, desk
):
    for chat_id, name, text in [
        (5101, "Inès", "Bonjour, ma commande n°42 est-elle partie ?"),
        (5102, "Jordan", "Do you ship to Belgium?"),
        (5103, "Sam", "Is this available in size M?"),
    ]:
        customer_writes(desk, text, chat_id=chat_id, first_name=name)
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    try:
        sign_in(page, console_server.url, "alice@support.test", "Support desk")
        rows = page.locator("#conversation-list .row")
        expect(rows).to_have_count(3, timeout=LIVE)
        screenshot(page, "inbox")
        for role, name in [
            ("banner", None),
            ("navigation", "Conversations"),
            ("main", None),
            ("complementary", "Contact"),
            ("search", "Filter conversations"),
        ]:
            expect(page.get_by_role(role, name=name)).to_have_count(1)
        low = page.evaluate(CONTRAST_BELOW_AA)
        assert low == [], low

        # The list by keyboard: arrows move between conversations, Enter opens one.
        rows.first.focus()
        page.keyboard.press("ArrowDown")
        expect(rows.nth(1)).to_be_focused()
        opened = rows.nth(1).locator(".row-name").inner_text()
        page.keyboard.press("Enter")
        expect(page.locator("#conversation-title")).to_have_text(opened)
        expect(page.locator("#conversation-title")).to_be_focused()
        expect(page.locator("#timeline li")).to_have_count(1)

        # A phone: the list, the conversation and the contact, one at a time.
        page.set_viewport_size({"width": 390, "height": 844})
        page.get_by_role("button", name="← Inbox").click()
        expect(page.locator(".list-pane")).to_be_visible()
        expect(page.locator(".conversation-pane")).to_be_hidden()
        screenshot(page, "phone-inbox")
        first_name = rows.first.locator(".row-name").inner_text()
        rows.first.click()
        expect(page.locator(".conversation-pane")).to_be_visible()
        expect(page.locator(".list-pane")).to_be_hidden()
        expect(page.locator("#conversation-title")).to_have_text(first_name)
        expect(page.locator("#thread .message-author").first).to_contain_text(first_name)
        screenshot(page, "phone-conversation")
        page.get_by_role("button", name="Contact").click()
        expect(page.locator("#contact-pane")).to_be_visible()
        expect(page.locator("#identities")).to_contain_text("Telegram")
        screenshot(page, "phone-contact")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()


def test_the_thread_nests_replies_and_shows_attachments_edits_and_reactions(
    browser, console_server, desk
):
    chat = 6101
    photo = customer_writes(desk, "Is it this one?", chat_id=chat, photo=True)
    answer = customer_writes(desk, "The blue one please", chat_id=chat, reply_to=photo)
    now = int(time.time())
    deliver(
        desk,
        scenarios.telegram_message(
            next(_update_ids), chat, answer, "The navy one please",
            date=now, first_name="Camille", reply_to=photo, edit_date=now + 1,
        ),
    )  # fmt: skip
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    try:
        sign_in(page, console_server.url, "alice@support.test", "Support desk")
        page.locator("#conversation-list .row").first.click(timeout=LIVE)
        first = page.locator("#thread > li.message").first
        expect(first).to_contain_text("Is it this one?")
        expect(first.locator(".attachments")).to_contain_text("image")
        reply = first.locator(".replies > li.message")
        expect(reply).to_contain_text("The navy one please", timeout=LIVE)
        reply.locator(".edits summary").click()
        expect(reply.locator(".edits")).to_contain_text("The blue one please")

        # A reaction arrives while the conversation is open.
        deliver(
            desk,
            scenarios.telegram_reaction(
                next(_update_ids), chat, photo, old=[], new=["👍"], date=int(time.time())
            ),
        )
        expect(first.locator(".reactions").first).to_contain_text("👍", timeout=LIVE)
    finally:
        context.close()
