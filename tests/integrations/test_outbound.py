"""Agents' replies leave through the platforms' send APIs (played by the emulator)."""

import contextlib
import json
import threading
import time
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.servers import emulator
from conversations.models import Conversation, Message
from crm.services.workspaces import workspace_create
from integrations.adapters import get_adapter
from integrations.emulator.client import EmulatorClient
from integrations.services import outbound
from integrations.services.brand_accounts import brand_account_create
from integrations.services.ingest import normalized_events_ingest
from tests.conftest import client_with

from .conftest import ACCOUNTS, load_fixture


@pytest.fixture
def telegram(db, emu, creds, settings):
    """A workspace whose Telegram bot received the documentation's sample message."""
    return _shop_with_its_bot(emu, creds["telegram"], settings)


@pytest.fixture
def emu_apart() -> Iterator[EmulatorClient]:
    """The emulator in a process of its own, the Telegram test bot registered.

    Its receive times are the platform's: the emulator of a thread of the test process
    stamps a request only once that thread gets the interpreter back from the sending
    threads, which once bunched two sends 0.13 s apart against slots 0.275 s apart.
    """
    with emulator() as base_url:
        client = EmulatorClient(base_url)
        client.reset()
        external_id, credentials = ACCOUNTS["telegram"]
        client.register_account("telegram", external_id, credentials)
        yield client
        client.close()


@pytest.fixture
def telegram_apart(db, emu_apart, settings):
    """``telegram``, its bot served by ``emu_apart``."""
    return _shop_with_its_bot(emu_apart, ACCOUNTS["telegram"], settings)


def _shop_with_its_bot(emu: EmulatorClient, bot: tuple[str, dict], settings):
    """The workspace, its Telegram ``bot`` (external id, credentials) served by ``emu``,
    and the conversation of the documentation's sample message."""
    settings.CAUSERIE_TELEGRAM_API_URL = emu.base_url
    created = workspace_create(slug="shop", name="Shop", owner_email="owner@shop.test")
    from crm.actors import Actor

    external_id, credentials = bot
    account = brand_account_create(
        actor=Actor.for_member(created.owner),
        platform="telegram",
        name="Shop bot",
        external_id=external_id,
        credentials=credentials,
    )
    sample = load_fixture("telegram", "message")
    # Recent, so that nothing about reply windows gets in the way.
    sample["message"]["date"] = int(timezone.now().timestamp()) - 60
    events = get_adapter("telegram").parse(
        json.dumps(sample).encode(), {}, account_external_id=external_id
    )
    normalized_events_ingest(account=account, events=events)
    return created, account, Conversation.objects.get()


def _reply(created, conversation, text, django_capture_on_commit_callbacks):
    client = client_with(created.token)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/workspaces/shop/conversations/{conversation.pk}/messages/",
            {"text": text},
            format="json",
        )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    return Message.objects.get(pk=response.json()["id"])


def test_a_reply_reaches_the_platform_in_its_shape_and_is_marked_sent(
    telegram, emu, django_capture_on_commit_callbacks
):
    created, _account, conversation = telegram

    message = _reply(
        created, conversation, "Votre colis arrive demain 🚚", django_capture_on_commit_callbacks
    )

    message.refresh_from_db()
    assert message.status == "sent"
    assert message.external_id
    sent = emu.last_request("telegram")
    assert sent["path"].endswith("/sendMessage")
    body = sent["body"]
    assert body["chat_id"] == 123456789
    assert body["text"] == "Votre colis arrive demain 🚚"


def test_rate_limited_send_is_requeued_with_the_platforms_wait(
    telegram, emu, django_capture_on_commit_callbacks, monkeypatch
):
    created, account, conversation = telegram
    monkeypatch.setattr("integrations.signals.send_queued_reply", lambda **kw: None)
    message = Message.objects.create(
        workspace=created.workspace,
        conversation=conversation,
        brand_account=account,
        direction="outbound",
        author_type="brand",
        text="hello",
        status="queued",
        client_ref="ref-1",
    )
    emu.set_fault("telegram", "rate_limit", count=1, retry_after=7)

    with pytest.raises(outbound.RetryLater) as caught:
        outbound.outbound_send(message_id=message.pk)

    assert caught.value.seconds == 7
    message.refresh_from_db()
    assert message.status == "queued"
    assert outbound.outbound_send(message_id=message.pk) == "sent"
    assert len([r for r in emu.requests("telegram") if r["path"].endswith("/sendMessage")]) == 2


def test_policy_refusal_fails_at_once_with_the_platforms_code(telegram, emu):
    created, account, conversation = telegram
    message = Message.objects.create(
        workspace=created.workspace,
        conversation=conversation,
        brand_account=account,
        direction="outbound",
        author_type="brand",
        text="hello",
        status="queued",
    )
    emu.set_fault(
        "telegram", "policy", count=1, code=403, message="Forbidden: bot was blocked by the user"
    )

    assert outbound.outbound_send(message_id=message.pk) == "failed"

    message.refresh_from_db()
    assert message.status == "failed"
    assert "blocked" in message.error["message"]


def test_a_send_interrupted_mid_call_is_never_repeated(telegram, emu):
    created, account, conversation = telegram
    message = Message.objects.create(
        workspace=created.workspace,
        conversation=conversation,
        brand_account=account,
        direction="outbound",
        author_type="brand",
        text="hello",
        status="sending",
    )

    # A redelivered task finds the reply already being sent and does not call again.
    assert outbound.outbound_send(message_id=message.pk) == "sending"
    assert not [r for r in emu.requests("telegram") if r["path"].endswith("/sendMessage")]

    later = timezone.now() + outbound.SENDING_GRACE * 2
    assert outbound.outbound_stale_sweep(now=later) == 1
    message.refresh_from_db()
    assert message.error["code"] == "send_outcome_unknown"


class _DatabaseLostAfterTheCall:
    """The real adapter; once the platform has answered, PostgreSQL drops the worker's
    connection, as a restart of the server does."""

    def __init__(self, adapter) -> None:
        self.adapter = adapter

    def send(self, *args, **kwargs):
        result = self.adapter.send(*args, **kwargs)
        with contextlib.suppress(OperationalError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return result


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_send_the_platform_took_is_recorded_sent_across_a_lost_database_connection(
    telegram, emu, monkeypatch
):
    message = _queued_reply(telegram, "envoyé pendant le redémarrage")
    monkeypatch.setattr(
        outbound, "get_adapter", lambda platform: _DatabaseLostAfterTheCall(get_adapter(platform))
    )

    assert outbound.outbound_send(message_id=message.pk) == "sent"

    message.refresh_from_db()
    assert message.status == "sent"
    sends = [r for r in emu.requests("telegram") if r["path"].endswith("/sendMessage")]
    assert len(sends) == 1
    assert message.external_id


def slot_wait(account) -> float:
    """Reserve the account's next slot and wait for it, as a send does; the seconds to
    re-queue the send for when the slot is too far away (0: send now)."""
    try:
        outbound.send_slot_keep(account=account, due=outbound.send_slot_reserve(account=account))
    except outbound.RetryLater as held:
        return held.seconds
    return 0.0


def test_sends_of_one_account_take_slots_spaced_under_its_limit(telegram, settings, monkeypatch):
    """Each send waits for its own slot; one too far away is re-queued, not waited for."""
    _, account, _ = telegram
    settings.CAUSERIE_SEND_RATE_LIMITS = {"telegram": 3}
    slept = []
    monkeypatch.setattr(outbound.time, "sleep", slept.append)

    waits = [slot_wait(account) for _ in range(4)]

    spacing = (1 + outbound.SEND_SLACK) / 3
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert slept == [pytest.approx(spacing, abs=0.05), pytest.approx(2 * spacing, abs=0.05)]
    # The fourth slot is more than SEND_WAIT_BOUND away: held back for the time until it
    # is near enough, and nothing reserved for it.
    assert waits[3] == pytest.approx(3 * spacing - outbound.SEND_WAIT_BOUND, abs=0.05)


def test_a_reply_held_back_by_the_accounts_limit_returns_within_a_second_or_so(
    telegram, settings, monkeypatch
):
    """However often a burst held it back: no growing delay, and never failed for it."""
    from integrations.tasks import send_reply_task

    _, account, _ = telegram
    message = _queued_reply(telegram, "hello")
    settings.CAUSERIE_SEND_RATE_LIMITS = {"telegram": 1}
    assert slot_wait(account) == 0.0  # takes the slot of now

    retried = {}

    class Held(Exception):
        pass

    def retry(**kwargs):
        retried.update(kwargs)
        return Held()

    monkeypatch.setattr(send_reply_task, "retry", retry)
    with pytest.raises(Held):
        send_reply_task.apply(kwargs={"message_id": str(message.pk)}, retries=9)

    assert 0.05 <= retried["countdown"] < 1.2
    assert retried["max_retries"] is None
    message.refresh_from_db()
    assert message.status == "queued"


def _queued_reply(telegram, text: str) -> Message:
    created, account, conversation = telegram
    return Message.objects.create(
        workspace=created.workspace,
        conversation=conversation,
        brand_account=account,
        direction="outbound",
        author_type="brand",
        text=text,
        status="queued",
    )


def test_a_send_reads_its_reply_once_and_then_once_locked_per_status(
    transactional_db, telegram, emu
):
    """What the platform call needs is read once; each status change (sending, then sent)
    reads the reply once, locked, and takes that read as it is: a send is CPU-bound
    Python, and the read of the reply with its conversation is a wide query to build.
    Its two commits record events, and the webhook subscriptions that may want them are
    read once per process for a few seconds (``crm.process_cache``)."""
    message = _queued_reply(telegram, "une seule fois")

    with CaptureQueriesContext(connection) as captured:
        assert outbound.outbound_send(message_id=message.pk) == "sent"

    reads = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith('SELECT "conversations_message"."id"')
    ]
    assert len(reads) == 3
    if connection.features.has_select_for_update:
        assert [("FOR UPDATE" in sql) for sql in reads] == [False, True, True]
    # The locked reads join the workspace their events go to, not the conversation: the
    # event is made of the reply's own fields.
    assert ['"conversations_conversation"' in sql for sql in reads] == [True, False, False]
    subscriptions = '"crm_webhooksubscription"'
    assert sum(subscriptions in q["sql"] for q in captured.captured_queries) <= 1
    # Each status change is a transaction of its own, with no savepoint inside it (two
    # round trips each, for nothing a failure would need).
    statements = [query["sql"].split()[0] for query in captured.captured_queries]
    assert "SAVEPOINT" not in statements
    if connection.vendor == "postgresql":
        assert statements.count("BEGIN") == 2
    # Until it is sent the platform has no id for the reply, so nothing can have reacted
    # to it or edited it: its events are written without reading either.
    assert not [
        query
        for query in captured.captured_queries
        if "conversations_reaction" in query["sql"] or "conversations_messageedit" in query["sql"]
    ]


def test_a_status_change_after_the_send_shows_the_reactions_the_reply_got(telegram, emu):
    from conversations.services.messages import message_status_set, reaction_add
    from crm.models import Event

    message = _queued_reply(telegram, "merci !")
    assert outbound.outbound_send(message_id=message.pk) == "sent"
    message.refresh_from_db()
    reaction_add(message=message, reaction="❤", author_type="contact", author_id="5094")

    message_status_set(message=message, status="read")

    updated = Event.objects.filter(type="message.updated").order_by("-seq").first()
    assert updated.data["status"] == "read"
    assert [r["reaction"] for r in updated.data["reactions"]] == ["❤"]


def test_a_reply_whose_send_task_was_lost_is_queued_again_once(telegram, emu):
    message = _queued_reply(telegram, "still queued")
    # Too recent: its task may still be on its way.
    assert outbound.outbound_queued_sweep() == 0

    # Its task was lost (killed worker, broker restarted empty): no lease is held.
    later = timezone.now() + outbound.QUEUED_GRACE * 2
    assert outbound.outbound_queued_sweep(now=later) == 1
    message.refresh_from_db()
    assert message.status == "sent"
    sends = [r for r in emu.requests("telegram") if r["path"].endswith("/sendMessage")]
    assert len(sends) == 1
    # Sent: nothing left to sweep, and nothing is sent again.
    assert outbound.outbound_queued_sweep(now=later) == 0


def test_the_sweep_leaves_a_reply_whose_task_holds_its_lease(telegram, emu):
    message = _queued_reply(telegram, "waiting out a rate limit")
    # A retry waiting out the platform's rate limit holds the reply until it runs.
    outbound.outbound_send_lease(message_id=message.pk, seconds=120)
    later = timezone.now() + outbound.QUEUED_GRACE * 2
    assert outbound.outbound_queued_sweep(now=later) == 0
    message.refresh_from_db()
    assert message.status == "queued"


def _most_in_one_second(times: list[float]) -> int:
    """The most of ``times`` within any sliding one-second span."""
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u - t < 1.0) for i, t in enumerate(times)), default=0)


def _drain_like_a_threaded_worker(message_ids: list[str], threads: int, monkeypatch) -> None:
    """Run the send task of each id as a worker of ``threads`` threads does: every thread
    takes the next task due, and a retry comes back to the queue after its countdown."""
    from integrations.tasks import send_reply_task

    queue = [(0.0, n, message_id) for n, message_id in enumerate(message_ids)]
    lock = threading.Lock()

    class Requeued(Exception):
        pass

    def retry(*, countdown, **kwargs):
        # What the broker does with a retry: the task comes back after its countdown.
        return Requeued(countdown)

    monkeypatch.setattr(send_reply_task, "retry", retry)

    def worker() -> None:
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    queue.sort()
                    eta, n, message_id = queue.pop(0)
                time.sleep(max(0.0, eta - time.monotonic()))
                try:
                    send_reply_task.apply(kwargs={"message_id": message_id}, throw=True)
                except Requeued as held:
                    with lock:
                        queue.append((time.monotonic() + held.args[0], n, message_id))
        finally:
            connection.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)


# Concurrent writers from threads: SQLite's shared in-memory test database locks them out.
@pytest.mark.postgres
def test_a_burst_never_reaches_the_platform_faster_than_its_limit_in_any_second(
    telegram_apart, emu_apart, settings, monkeypatch, transactional_db
):
    """Ten replies at once, three workers, limit 3/s: the platform's own receive times
    never hold more than 3 sends within one second, however they fall on clock seconds,
    and every reply is sent."""
    settings.CAUSERIE_SEND_RATE_LIMITS = {"telegram": 3}
    replies = [str(_queued_reply(telegram_apart, f"reply {n}").pk) for n in range(10)]

    _drain_like_a_threaded_worker(replies, threads=3, monkeypatch=monkeypatch)

    statuses = list(Message.objects.filter(direction="outbound").values_list("status", flat=True))
    assert statuses.count("sent") == 10
    sends = emu_apart.requests("telegram")
    received = [r["received_at"] for r in sends if r["path"].endswith("/sendMessage")]
    assert len(received) == 10
    assert _most_in_one_second(received) <= 3
    # At the limit, not slower: ten sends 0.37 s apart take about 3.3 s.
    assert max(received) - min(received) < 6.0


def test_sends_have_a_queue_of_their_own():
    """Replies go to the ``outbound`` queue, which the threaded sends worker serves;
    ingest stays on the default queue of the prefork worker."""
    from config.celery import app

    assert app.amqp.router.route({}, "integrations.send_reply")["queue"].name == "outbound"
    default = app.amqp.router.route({}, "integrations.process_inbound_events")["queue"].name
    assert default == "celery"


# Concurrent writers from threads: SQLite's shared in-memory test database locks them out.
@pytest.mark.postgres
def test_a_threaded_worker_sends_each_reply_once_and_never_over_the_limit(
    telegram_apart, emu_apart, settings, monkeypatch, transactional_db
):
    """Eight threads, every reply's task delivered twice (a redelivery, the sweep), the
    first claim slower than the slots' slack (a loaded host) and the process's platform
    client made by the first send (slowly, as loading the CA bundle is): each reply
    reaches the platform exactly once, and never more than the limit in any second."""
    settings.CAUSERIE_SEND_RATE_LIMITS = {"telegram": 4}
    replies = [str(_queued_reply(telegram_apart, f"reply {n}").pk) for n in range(10)]
    client_class = outbound.httpx.Client

    def slow_client(**kwargs):
        time.sleep(0.5)
        return client_class(**kwargs)

    monkeypatch.setattr(outbound, "_client", None)
    monkeypatch.setattr(outbound.httpx, "Client", slow_client)
    claim = outbound._claim
    slowed = []

    def claim_slow_once(message_id):
        claimed = claim(message_id)
        if claimed is not None and not slowed:
            slowed.append(message_id)
            time.sleep(0.3)
        return claimed

    monkeypatch.setattr(outbound, "_claim", claim_slow_once)

    _drain_like_a_threaded_worker(replies * 2, threads=8, monkeypatch=monkeypatch)

    statuses = list(Message.objects.filter(direction="outbound").values_list("status", flat=True))
    assert statuses.count("sent") == 10
    sends = [r for r in emu_apart.requests("telegram") if r["path"].endswith("/sendMessage")]
    assert sorted(r["body"]["text"] for r in sends) == sorted(f"reply {n}" for n in range(10))
    assert _most_in_one_second([r["received_at"] for r in sends]) <= 4
