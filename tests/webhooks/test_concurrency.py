"""Many workers at once (PostgreSQL): each event is delivered once, in order, per subscription."""

import json
import threading

import pytest
from django.db import connection

from crm.services.events import event_record
from crm.webhooks.delivery import subscription_deliver
from crm.webhooks.services import webhook_create


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_deliver_each_event_once_and_in_order(make_workspace, make_sink):
    ws = make_workspace("busy")
    sinks = [make_sink() for _ in range(3)]
    hooks = [webhook_create(actor=ws.owner_actor, url=s.url).subscription for s in sinks]
    events = [
        event_record(workspace=ws.workspace, type="contact.created", data={"n": n})
        for n in range(12)
    ]

    def worker(subscription_id):
        try:
            for _ in range(3):
                subscription_deliver(subscription_id=subscription_id, max_events=4)
        finally:
            connection.close()

    # Four workers per subscription, all at once.
    threads = [threading.Thread(target=worker, args=(h.pk,)) for h in hooks for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Whatever the racing workers left (they give up when the lease is taken) is finished
    # here; what matters is that nothing was sent twice or out of order.
    for hook in hooks:
        while subscription_deliver(subscription_id=hook.pk).more:
            pass

    for sink in sinks:
        seqs = [json.loads(r["body"])["seq"] for r in sink.requests()]
        assert seqs == [e.seq for e in events]
