"""Set-based ingest of a batch of inbound events (PostgreSQL's path).

What a batch stores and records must be what ingesting its events one by one stores and
records; it must cost a fixed number of statements whatever its size; a bad event must
fail alone; two workers draining the same threads at once must not double anything.
"""

import hashlib
import logging
import re
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact, Identity
from conversations.models import Conversation, Message
from conversations.services.messages import message_ingest_inbound
from crm.models import Event, Team
from crm.services.events import events_record
from crm.services.workspaces import team_create
from integrations.emulator.scenarios import (
    feed_comment,
    messenger_echo,
    messenger_message,
    page_envelope,
)
from integrations.emulator.signing import meta_body
from integrations.models import BrandAccount, InboundEvent
from integrations.services import processing

pytestmark = pytest.mark.postgres

PAGE = "104000000000001"
BASE_MS = 1_764_000_000_000


@pytest.fixture
def account(ws):
    return BrandAccount.objects.create(
        workspace=ws.workspace,
        platform="facebook",
        name="Brand page",
        external_id=PAGE,
        credentials={},
    )


def _dm(psid: str, mid: str, n: int, text: str = "Bonjour", reply_to: str | None = None):
    return page_envelope(
        PAGE,
        messaging=[
            messenger_message(
                PAGE, psid, mid, text, timestamp_ms=BASE_MS + n * 1000, reply_to=reply_to
            )
        ],
        time_ms=BASE_MS + n * 1000,
    )


def _comment(comment_id: str, n: int, author: tuple[str, str], parent: str | None = None):
    change = feed_comment(
        f"{PAGE}_post1",
        comment_id,
        message=f"comment {n}",
        parent_id=parent,
        author=author,
        created_time=BASE_MS // 1000 + n,
    )
    return page_envelope(PAGE, changes=[change], time_ms=BASE_MS + n * 1000)


def _store(account, payloads) -> list[InboundEvent]:
    """Pending events as the webhook stores them, received in ``payloads`` order."""
    start = timezone.now()
    events = []
    for n, payload in enumerate(payloads):
        body = meta_body(payload)
        events.append(
            InboundEvent.objects.create(
                workspace=account.workspace,
                brand_account=account,
                platform="facebook",
                body=body,
                body_sha256=hashlib.sha256(body).hexdigest(),
                received_at=start + timedelta(microseconds=n),
            )
        )
    return events


def _traffic():
    """New people and threads, known ones (resolved, snoozed), a redelivery, threads,
    a changed profile, an unreadable body."""
    return [
        _dm("psid-known-resolved", "m_1", 1, "back again"),
        _dm("psid-new-a", "m_2", 2, "first"),
        _dm("psid-new-a", "m_3", 3, "second", reply_to="m_2"),
        _dm("psid-known-snoozed", "m_4", 4, "wake up"),
        _dm("psid-new-b", "m_5", 5, "hello"),
        _dm("psid-new-a", "m_2", 6, "first (redelivered with another timestamp)"),
        _comment("c_1", 7, ("7300000000000001", "Jane Roe")),
        _comment("c_2", 8, ("7300000000000002", "Ann Lee"), parent="c_1"),
        _dm("psid-new-b", "m_6", 9, "", reply_to="m_404"),
        _comment("c_3", 10, ("7300000000000001", "Jane R.")),  # a new display name
        _dm("psid-new-b", "m_7", 11, "nul \u0000 dropped"),
        {"object": "page", "entry": [{"id": PAGE, "time": BASE_MS, "messaging": [{}]}]},
    ]


def _known_threads(account):
    """Two conversations of earlier traffic: one resolved, one snoozed."""
    for psid, status in (("psid-known-resolved", "resolved"), ("psid-known-snoozed", "snoozed")):
        contact = Contact.objects.create(workspace=account.workspace, name=psid)
        Identity.objects.create(
            workspace=account.workspace,
            contact=contact,
            platform="facebook",
            brand_account=account,
            scope_key=str(account.pk),
            external_id=psid,
        )
        result = message_ingest_inbound(
            brand_account=account,
            thread_key=f"{PAGE}:{psid}",
            contact=contact,
            external_id=f"old-{psid}",
            text="earlier",
            received_at=datetime.fromtimestamp(BASE_MS / 1000, tz=UTC) - timedelta(days=3),
        )
        Conversation.objects.filter(pk=result.conversation.pk).update(
            status=status,
            resolved_at=timezone.now() if status == "resolved" else None,
            snoozed_until=timezone.now() + timedelta(days=1) if status == "snoozed" else None,
        )


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Clock readings of the processing run itself, not of the traffic.
_NOW_FIELDS = {"created_at", "updated_at", "expires_at"}


def _recorded(after_seq: int) -> list:
    """The events recorded after ``after_seq``: ids numbered by first appearance."""
    names: dict[str, str] = {}

    def plain(value, key=""):
        if isinstance(value, dict):
            return {k: plain(v, k) for k, v in value.items() if k not in _NOW_FIELDS}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, str) and _UUID.fullmatch(value):
            return names.setdefault(value, f"id{len(names)}")
        return value

    return [
        (event.type, plain(event.data))
        for event in Event.objects.filter(seq__gt=after_seq).order_by("seq")
    ]


def _outcome(account, process) -> tuple[list, list]:
    _known_threads(account)
    after = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    events = _store(account, _traffic())
    process(events)
    statuses = list(
        InboundEvent.objects.filter(pk__in=[e.pk for e in events])
        .order_by("received_at")
        .values_list("status", "attempts")
    )
    return _recorded(after), statuses


def _wipe(account):
    Event.objects.filter(workspace=account.workspace).delete()
    InboundEvent.objects.all().delete()
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    Identity.objects.all().delete()
    Contact.objects.all().delete()


def _one_by_one(events):
    for event in (
        InboundEvent.objects.select_related("brand_account__workspace")
        .filter(pk__in=[e.pk for e in events])
        .order_by("received_at")
    ):
        processing._process_one(event)
        event.save()


@pytest.mark.django_db
def test_a_batch_stores_and_records_what_event_by_event_ingest_does(account, caplog):
    expected, expected_statuses = _outcome(account, _one_by_one)
    _wipe(account)

    with caplog.at_level("INFO", logger=processing.__name__):
        recorded, statuses = _outcome(account, lambda _: processing.inbound_events_process_batch())

    # The set-based path did the work: it never fell back to event-by-event ingest.
    assert not [r for r in caplog.records if r.name == processing.__name__]

    assert recorded == expected
    assert statuses == expected_statuses
    types = [kind for kind, _ in recorded]
    assert types.count("contact.created") == 4  # two PSIDs, two commenters
    assert types.count("conversation.created") == 3
    assert types.count("contact.updated") == 1
    assert types.count("message.created") == 10  # the redelivered m_2 is stored once
    reopened = Conversation.objects.get(thread_key=f"{PAGE}:psid-known-resolved")
    assert (reopened.status, reopened.reopened_count, reopened.unread_count) == ("open", 1, 2)
    woken = Conversation.objects.get(thread_key=f"{PAGE}:psid-known-snoozed")
    assert (woken.status, woken.snoozed_until) == ("open", None)
    reply = Message.objects.get(external_id="m_3")
    assert reply.parent.external_id == "m_2"
    assert Message.objects.get(external_id="c_2").parent.external_id == "c_1"
    assert Message.objects.get(external_id="m_7").text == "nul  dropped"


@pytest.mark.django_db
def test_a_parent_later_in_the_same_batch_threads_its_reply(account):
    _store(account, [_dm("psid-1", "m_child", 1, "re", reply_to="m_parent")])
    _store(account, [_dm("psid-1", "m_parent", 0, "question")])

    processing.inbound_events_process_batch()

    child = Message.objects.get(external_id="m_child")
    assert child.parent == Message.objects.get(external_id="m_parent")


@pytest.mark.django_db
def test_a_batch_costs_the_same_statements_whatever_its_size(account):
    def statements(count: int, tag: str) -> int:
        _store(account, [_dm(f"psid-{tag}-{n % 7}", f"m_{tag}_{n}", n) for n in range(count)])
        with CaptureQueriesContext(connection) as captured:
            assert processing.inbound_events_process_batch() == count
        return len(captured.captured_queries)

    # The first run makes the seven people and threads, the second finds them.
    small, large = statements(14, "a"), statements(70, "b")

    assert large == small
    assert Message.objects.count() == 84
    assert Conversation.objects.count() == 14


@pytest.mark.django_db
def test_a_batch_takes_the_event_sequence_after_its_statuses_and_foreign_key_checks(account):
    # Writers of a workspace wait for one another from the sequence's lock to commit:
    # the batch's own writes and checks come before it.
    _store(account, [_dm("psid-1", "m_1", 1), _dm("psid-2", "m_2", 2)])
    with CaptureQueriesContext(connection) as captured:
        assert processing.inbound_events_process_batch() == 2
    statements = [query["sql"] for query in captured.captured_queries]

    def first(fragment: str) -> int:
        return next(n for n, sql in enumerate(statements) if fragment in sql)

    sequence = first('UPDATE "crm_eventsequence"')
    assert first('UPDATE "integrations_inboundevent"') < sequence
    assert first("SET CONSTRAINTS ALL IMMEDIATE") < sequence
    assert first('INSERT INTO "crm_event"') > sequence
    # The transaction goes on checking foreign keys at commit.
    assert first("SET CONSTRAINTS ALL DEFERRED") > first('INSERT INTO "crm_event"')


@pytest.mark.django_db
def test_a_bad_event_fails_alone_and_the_rest_of_its_batch_is_ingested(account):
    good = _store(account, [_dm("psid-1", "m_1", 1), _dm("psid-2", "m_2", 2)])
    # A sender id longer than any platform's does not fit its column: the whole set-based
    # insert fails.
    (bad,) = _store(account, [_dm("9" * 300, "m_3", 3)])
    more = _store(account, [_dm("psid-1", "m_4", 4)])

    assert processing.inbound_events_process_batch() == 4

    assert sorted(Message.objects.values_list("external_id", flat=True)) == ["m_1", "m_2", "m_4"]
    for event in [*good, *more]:
        event.refresh_from_db()
        assert event.status == "processed"
    bad.refresh_from_db()
    assert (bad.status, bad.attempts) == ("pending", 1)
    assert bad.next_attempt_at is not None
    assert "too long" in bad.error
    seqs = list(Event.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


@pytest.mark.django_db
def test_a_delivery_rolled_back_event_by_event_records_no_event(account):
    # Two new messages in one delivery, the second too long for its column: the set-based
    # attempt fails, and so does the delivery's own savepoint after its first message
    # recorded its events. Nothing of it may reach the log.
    _store(account, [_dm("psid-1", "m_1", 1)])
    (bad,) = _store(
        account,
        [
            page_envelope(
                PAGE,
                messaging=[
                    messenger_message(PAGE, "psid-2", "m_2", "kept?", timestamp_ms=BASE_MS),
                    messenger_message(PAGE, "9" * 300, "m_3", "too long", timestamp_ms=BASE_MS),
                ],
            )
        ],
    )

    assert processing.inbound_events_process_batch() == 2

    bad.refresh_from_db()
    assert (bad.status, bad.attempts) == ("pending", 1)
    assert list(Message.objects.values_list("external_id", flat=True)) == ["m_1"]
    recorded = Event.objects.filter(workspace=account.workspace, type="message.created")
    assert [event.data["external_id"] for event in recorded] == ["m_1"]
    assert Event.objects.filter(type="contact.created").count() == Contact.objects.count() == 1


def _echo(psid: str, mid: str, n: int):
    return page_envelope(
        PAGE,
        messaging=[messenger_echo(PAGE, psid, mid, "Our answer", timestamp_ms=BASE_MS + n * 1000)],
        time_ms=BASE_MS + n * 1000,
    )


def _page_in(make_workspace, name: str) -> BrandAccount:
    """A Facebook page of a new workspace, for tests whose workers commit (transaction=True)."""
    ws = make_workspace(name)
    return BrandAccount.objects.create(
        workspace=ws.workspace, platform="facebook", name="Page", external_id=PAGE, credentials={}
    )


def _two_batches_at_once(make_workspace, first_payloads, second_payloads) -> None:
    """Threads a, b, c, d known; then the first batch, held up at thread c (locked here)
    until the second batch waits for a lock or is done, then let go; then a drain of what
    the second left."""
    account = _page_in(make_workspace, "lock-order")
    _store(account, [_dm(f"psid-{name}", f"m_{name}0", n) for n, name in enumerate("abcd")])
    processing.inbound_events_process_batch()
    thread_c = Conversation.objects.get(thread_key=f"{PAGE}:psid-c")
    first = _store(account, first_payloads)
    _store(account, second_payloads)
    backends: dict[str, int] = {}
    errors: list[str] = []

    def worker(name: str, limit: int):
        try:
            with connection.cursor() as cursor:
                # A deadlock, if there is one, is found and logged quickly.
                cursor.execute("SET deadlock_timeout = '100ms'")
            backends[name] = connection.connection.info.backend_pid
            processing.inbound_events_process_batch(limit=limit)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    def until(condition) -> None:
        deadline = time.monotonic() + 20
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)

    with transaction.atomic():
        Conversation.objects.select_for_update().get(pk=thread_c.pk)
        first_batch = threading.Thread(target=worker, args=("first", len(first)))
        first_batch.start()
        until(lambda: "first" in backends and _waits_for_a_lock(backends["first"]))
        second_batch = threading.Thread(target=worker, args=("second", 200))
        second_batch.start()
        until(
            lambda: (
                "second" in backends
                and (not second_batch.is_alive() or _waits_for_a_lock(backends["second"]))
            )
        )
    first_batch.join()
    second_batch.join()
    # What the second batch left to the next one (a thread the first held).
    processing.inbound_events_drain(budget_seconds=30)

    assert errors == []
    assert list(InboundEvent.objects.values_list("status", "attempts").distinct()) == [
        ("processed", 0)
    ]
    assert Message.objects.count() == 4 + len(first_payloads) + len(second_payloads)
    events = Event.objects.filter(workspace=account.workspace)
    seqs = list(events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.django_db(transaction=True)
def test_two_batches_each_locking_the_others_thread_after_their_set_based_part_never_deadlock(
    make_workspace, caplog
):
    # The first batch ingests thread a set-based, then answers threads c and b event by
    # event; meanwhile the second batch ingests thread b set-based. Had the first batch
    # recorded a's events before locking b, it would hold the event sequence while
    # waiting for b, and the second would hold b while waiting for the sequence.
    with caplog.at_level(logging.INFO):
        _two_batches_at_once(
            make_workspace,
            [_dm("psid-a", "m_a1", 10), _echo("psid-c", "e_c1", 11), _echo("psid-b", "e_b1", 12)],
            [_dm("psid-b", "m_b1", 13), _echo("psid-d", "e_d1", 14)],
        )

    assert "deadlock" not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_two_batches_answering_the_same_threads_in_opposite_orders_never_deadlock(
    make_workspace, caplog
):
    # Event by event, the first batch would lock thread a, then c and b; the second b,
    # then a.
    with caplog.at_level(logging.INFO):
        _two_batches_at_once(
            make_workspace,
            [_echo("psid-a", "e_a1", 10), _echo("psid-c", "e_c1", 11), _echo("psid-b", "e_b1", 12)],
            [_echo("psid-b", "e_b2", 13), _echo("psid-a", "e_a2", 14)],
        )

    assert "deadlock" not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_batch_leaves_the_threads_another_batch_holds_for_later_and_ingests_the_rest(
    make_workspace,
):
    # Two workers draining one busy account: waiting for each other's threads made two
    # of them go no faster than one. The second batch takes what the first does not hold.
    account = _page_in(make_workspace, "threads-held")
    _store(account, [_dm("psid-a", "m_a0", 0), _dm("psid-b", "m_b0", 1)])
    processing.inbound_events_process_batch()
    thread_a = Conversation.objects.get(thread_key=f"{PAGE}:psid-a")
    _store(account, [_dm("psid-a", "m_a1", 2)])
    later = _store(account, [_dm("psid-a", "m_a2", 3), _dm("psid-b", "m_b1", 4)])

    with _first_batch_held_up_at(thread_a) as batches:
        second_batch = batches.start("second", 200)
        # The second batch does not wait for the first: it ingests thread b and is done.
        second_batch.join(timeout=20)
        assert not second_batch.is_alive()
        assert batches.waiting("first")
        assert batches.ingested["second"] == 1
        left = InboundEvent.objects.get(pk=later[0].pk)
        assert (left.status, left.attempts, left.next_attempt_at, left.error) == (
            "pending",
            0,
            None,
            "",
        )
        assert InboundEvent.objects.get(pk=later[1].pk).status == "processed"
    # The next batch takes the event left, after the first batch's: a's messages in order.
    assert processing.inbound_events_process_batch() == 1

    assert batches.errors == []
    assert batches.ingested["first"] == 1
    assert list(InboundEvent.objects.values_list("status", "attempts").distinct()) == [
        ("processed", 0)
    ]
    assert list(
        Message.objects.filter(conversation=thread_a)
        .order_by("created_at")
        .values_list("external_id", flat=True)
    ) == ["m_a0", "m_a1", "m_a2"]
    thread_a.refresh_from_db()
    assert thread_a.unread_count == 3


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_every_thread_another_batch_holds_waits_for_them(make_workspace):
    # Nothing else to do: leaving the events would only claim them again at once.
    account = _page_in(make_workspace, "threads-all-held")
    _store(account, [_dm("psid-a", "m_a0", 0)])
    processing.inbound_events_process_batch()
    thread_a = Conversation.objects.get(thread_key=f"{PAGE}:psid-a")
    _store(account, [_dm("psid-a", "m_a1", 1), _dm("psid-a", "m_a2", 2)])

    with _first_batch_held_up_at(thread_a) as batches:
        batches.start("second", 1)
        assert batches.waiting("second")

    assert batches.errors == []
    assert batches.ingested == {"first": 1, "second": 1}
    assert InboundEvent.objects.filter(status="processed").count() == 3
    assert Message.objects.filter(conversation=thread_a).count() == 3


def _backend_pid() -> int:
    connection.ensure_connection()
    return connection.connection.info.backend_pid


class _Batches:
    """Workers' batches, each in a thread of its own (a connection of its own)."""

    def __init__(self) -> None:
        self.backends: dict[str, int] = {}
        self.ingested: dict[str, int] = {}
        self.errors: list[str] = []
        self.threads: list[threading.Thread] = []

    def start(self, name: str, limit: int) -> threading.Thread:
        """Start a batch of up to ``limit`` events."""

        def batch():
            try:
                self.backends[name] = _backend_pid()
                self.ingested[name] = processing.inbound_events_process_batch(limit=limit)
            except Exception as exc:
                self.errors.append(repr(exc))
            finally:
                connection.close()

        thread = threading.Thread(target=batch)
        thread.start()
        self.threads.append(thread)
        return thread

    def waiting(self, name: str) -> bool:
        """Whether batch ``name`` waits for a lock (within 20 s)."""
        return _until(lambda: name in self.backends and _waits_for_a_lock(self.backends[name]))


@contextmanager
def _first_batch_held_up_at(conversation):
    """Another writer holds ``conversation`` locked while a first batch of one event (of
    its thread) starts and waits for it, holding the thread; the writer lets go when the
    block ends, and every batch started meanwhile is waited for."""
    batches = _Batches()
    with transaction.atomic():
        Conversation.objects.select_for_update().get(pk=conversation.pk)
        batches.start("first", 1)
        assert batches.waiting("first")
        yield batches
    for thread in batches.threads:
        thread.join()


def _until(condition, seconds: float = 20) -> bool:
    """Wait until ``condition()`` holds or ``seconds`` pass; whether it holds."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_the_same_threads_at_once_double_nothing(make_workspace):
    account = _page_in(make_workspace, "parallel")
    _store(account, [_dm(f"psid-{n % 5}", f"m_{n}", n) for n in range(80)])
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def worker():
        try:
            barrier.wait()
            while processing.inbound_events_process_batch(limit=20):
                pass
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A worker that lost a race left its events for a retry: finish them.
    InboundEvent.objects.update(next_attempt_at=None)
    processing.inbound_events_drain(budget_seconds=30)

    assert errors == []
    assert InboundEvent.objects.filter(status="processed").count() == 80
    assert Message.objects.count() == 80
    assert Conversation.objects.count() == 5
    assert Identity.objects.count() == Contact.objects.count() == 5
    assert {c.unread_count for c in Conversation.objects.all()} == {16}
    events = Event.objects.filter(workspace=account.workspace)
    assert events.filter(type="contact.created").count() == 5
    assert events.filter(type="conversation.created").count() == 5
    assert events.filter(type="message.created").count() == 80
    seqs = list(events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def _copies(template, count: int, **varying: str) -> None:
    """``count`` copies of the ``template`` row, in one statement; ``varying`` gives the
    SQL of the columns that differ, in terms of the copy's number ``n``."""
    meta = type(template)._meta
    columns = [field.column for field in meta.concrete_fields]
    values = [varying.get(column, column) for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {meta.db_table}, generate_series(1, %s) AS n "
            f"WHERE {meta.pk.column} = %s",
            [count, template.pk],
        )
        cursor.execute(f"ANALYZE {meta.db_table}")


def _history(account, count: int) -> None:
    """``count`` earlier threads of the account, a message each, analyzed: as many rows
    as a live account has, so that the planner weighs its indexes as it does there."""
    result = message_ingest_inbound(
        brand_account=account,
        thread_key=f"{PAGE}:psid-0",
        contact=Contact.objects.create(workspace=account.workspace, name="Earlier people"),
        external_id="old-0",
        text="earlier",
    )
    _copies(result.conversation, count, id="gen_random_uuid()", thread_key=f"'{PAGE}:psid-' || n")
    _copies(result.message, count, id="gen_random_uuid()", external_id="'old-' || n")


def _plans(captured, fragment: str) -> list[str]:
    """The plans of the captured SELECTs holding ``fragment``, the best index-based ones
    (a test's few thousand rows are cheaper to scan whole than a live account's)."""
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in captured.captured_queries:
            if query["sql"].startswith("SELECT") and fragment in query["sql"]:
                cursor.execute(f"EXPLAIN {query['sql']}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("SET LOCAL enable_seqscan = on")
    return plans


def test_a_batch_reads_through_the_indexes_made_for_its_lookups_whatever_its_size(account):
    # Over 100 ids: PostgreSQL proves that an IN list meets a partial index's condition
    # only up to 100 values, so the lookups state that condition themselves; without it
    # they read every message and conversation of the account.
    _history(account, 30_000)
    size = 150
    _store(account, [_dm(f"psid-{n}", f"m_{n}", n) for n in range(size)])
    with CaptureQueriesContext(connection) as captured:
        assert processing.inbound_events_process_batch(limit=size) == size

    expected = {
        '"conversations_message"."external_id" IN': "message_unique_external_id",
        '"conversations_conversation"."thread_key" IN': "conversation_unique_thread",
        "awaiting_parent": "msg_awaiting_parent",
        # The claim goes through a cursor, not captured here: its plan is asserted by
        # test_the_claim_reads_a_backlog_in_received_order_through_its_index_...
    }
    for fragment, index in expected.items():
        plans = _plans(captured, fragment)
        assert plans, fragment
        assert all(index in plan for plan in plans), plans


@pytest.mark.django_db
def test_the_claim_reads_a_backlog_in_received_order_through_its_index_whatever_the_statistics(
    account,
):
    # Statistics taken while nothing was pending, then a backlog arriving at once: as one
    # query the claim was planned for the few rows expected, a bitmap scan of every
    # pending entry and a sort.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integrations_inboundevent")
    (template,) = _store(account, [_dm("psid-1", "m_1", 1)])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO integrations_inboundevent (id, workspace_id, brand_account_id, "
            "platform, body, body_sha256, headers, status, attempts, error, received_at, "
            "next_attempt_at) "
            "SELECT gen_random_uuid(), workspace_id, brand_account_id, platform, body, "
            "md5(n::text), headers, status, attempts, error, received_at + n * interval '1 ms', "
            # Every seventh a retry not due yet.
            "CASE WHEN n %% 7 = 0 THEN now() + interval '1 hour' END "
            "FROM integrations_inboundevent, generate_series(1, 2000) AS n WHERE id = %s",
            [template.pk],
        )
    due = list(
        InboundEvent.objects.filter(next_attempt_at__isnull=True)
        .order_by("received_at", "id")
        .values_list("pk", flat=True)[:200]
    )
    plans: list[str] = []

    def plan_noted(diagnostic):
        if "SKIP LOCKED" in (diagnostic.message_primary or ""):
            plans.append(diagnostic.message_primary)

    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        cursor.execute("SET LOCAL auto_explain.log_min_duration = 0")
        cursor.execute("SET LOCAL auto_explain.log_level = notice")
    connection.connection.add_notice_handler(plan_noted)
    try:
        assert processing.inbound_events_process_batch(limit=200) == 200
    finally:
        connection.connection.remove_notice_handler(plan_noted)

    assert set(InboundEvent.objects.filter(status="processed").values_list("pk", flat=True)) == set(
        due
    )
    (plan,) = plans
    assert "Index Scan using inbound_pending" in plan
    assert "Bitmap" not in plan
    assert "Sort" not in plan


@pytest.mark.django_db(transaction=True)
def test_a_batch_chosen_as_a_deadlock_victim_tries_again_set_based(account, caplog):
    # Another writer holds the event sequence, then wants the conversation the batch
    # has locked while the batch waits for the sequence to record its events: PostgreSQL
    # aborts one of them, here the batch (it detects deadlocks sooner).
    _store(account, [_dm("psid-a", "m_1", 1)])
    processing.inbound_events_process_batch()
    conversation = Conversation.objects.get()
    _store(account, [_dm("psid-a", "m_2", 2)])
    batch_backend = connection.connection.info.backend_pid
    sequence_held = threading.Event()
    errors: list[str] = []

    def other_writer():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL deadlock_timeout = '10s'")
                events_record(workspace=account.workspace, items=[("note.created", {})])
                sequence_held.set()
                while not _waits_for_a_lock(batch_backend):
                    time.sleep(0.01)
                Conversation.objects.select_for_update().get(pk=conversation.pk)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    with connection.cursor() as cursor:
        cursor.execute("SET deadlock_timeout = '50ms'")
    thread = threading.Thread(target=other_writer)
    thread.start()
    sequence_held.wait()
    try:
        with caplog.at_level(logging.INFO, logger=processing.__name__):
            assert processing.inbound_events_process_batch() == 1
    finally:
        thread.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET deadlock_timeout")

    assert errors == []
    assert "deadlock victim, running the transaction again" in caplog.text
    assert "one by one" not in caplog.text
    assert InboundEvent.objects.filter(status="processed").count() == 2
    assert Message.objects.count() == 2


def _waits_for_a_lock(backend_pid: int) -> bool:
    with connection.cursor() as cursor:
        # Inside a transaction, pg_stat_activity is read once unless told otherwise.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [backend_pid]
        )
        row = cursor.fetchone()
        return bool(row and row[0])


@pytest.mark.django_db
def test_a_batch_gives_a_waiting_conversation_to_its_auto_assigning_team(account, ws):
    agent = ws.add_member("agent")[0]
    team = team_create(actor=ws.owner_actor, name="Support", member_ids=[agent.pk])
    Team.objects.filter(pk=team.pk).update(auto_assign=True)
    contact = Contact.objects.create(workspace=account.workspace, name="Ada")
    waiting = message_ingest_inbound(
        brand_account=account,
        thread_key=f"{PAGE}:psid-queued",
        contact=contact,
        external_id="m_0",
        text="earlier",
    ).conversation
    Conversation.objects.filter(pk=waiting.pk).update(team=team, assignee=None)
    after = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
    Identity.objects.create(
        workspace=account.workspace,
        contact=contact,
        platform="facebook",
        brand_account=account,
        scope_key=str(account.pk),
        external_id="psid-queued",
    )
    _store(account, [_dm("psid-queued", "m_1", 1), _dm("psid-other", "m_2", 2)])

    assert processing.inbound_events_process_batch() == 2

    waiting.refresh_from_db()
    assert waiting.assignee_id == agent.pk
    updated = Event.objects.filter(seq__gt=after, type="conversation.updated").get()
    assert updated.data["id"] == str(waiting.pk)
    assert updated.data["assignee"] == str(agent.pk)
    other = Conversation.objects.get(thread_key=f"{PAGE}:psid-other")
    assert other.assignee_id is None


@pytest.mark.django_db
def test_a_reply_stored_before_its_parent_is_threaded_when_a_later_batch_brings_it(account):
    _store(account, [_dm("psid-1", "m_child", 1, "re", reply_to="m_parent")])
    processing.inbound_events_process_batch()
    child = Message.objects.get(external_id="m_child")
    assert child.parent_id is None
    after = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
    _store(account, [_dm("psid-1", "m_parent", 0, "question"), _dm("psid-2", "m_other", 2)])

    assert processing.inbound_events_process_batch() == 2

    child.refresh_from_db()
    parent = Message.objects.get(external_id="m_parent")
    assert child.parent_id == parent.pk
    assert "awaiting_parent" not in child.platform_metadata
    updated = Event.objects.filter(seq__gt=after, type="message.updated").get()
    assert (updated.data["id"], updated.data["parent"]) == (str(child.pk), str(parent.pk))
