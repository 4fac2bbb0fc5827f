"""A slow or dead endpoint costs one short timeout, and never holds other subscriptions."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from crm.models import WebhookDelivery
from crm.services.events import event_record
from crm.webhooks import delivery
from crm.webhooks.delivery import subscription_deliver


class _Slow(BaseHTTPRequestHandler):
    def do_POST(self):
        time.sleep(2)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        return


@pytest.fixture
def slow_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_slow_endpoint_times_out_and_the_others_are_delivered(
    ws, subscribe, sink, slow_url, clock, monkeypatch
):
    monkeypatch.setattr(delivery, "TIMEOUT", httpx.Timeout(0.3, connect=0.3))
    slow, _ = subscribe(slow_url)
    fast, _ = subscribe(sink.url)
    event_record(workspace=ws.workspace, type="contact.created", data={})

    started = time.monotonic()
    outcome = subscription_deliver(subscription_id=slow.pk)
    assert time.monotonic() - started < 1.5
    assert outcome.failed
    attempt = WebhookDelivery.objects.get(subscription=slow)
    assert attempt.error.startswith("timeout")
    assert attempt.next_attempt_at is not None  # retried later, by the sweep: no sleeping

    assert subscription_deliver(subscription_id=fast.pk).delivered == 1
    assert len(sink.requests()) == 1


def test_a_dead_endpoint_is_a_logged_network_failure(ws, subscribe, clock):
    dead, _ = subscribe("http://127.0.0.1:9/hook")  # discard port: nothing listens
    event_record(workspace=ws.workspace, type="contact.created", data={})
    assert subscription_deliver(subscription_id=dead.pk).failed
    attempt = WebhookDelivery.objects.get(subscription=dead)
    assert attempt.status_code is None
    assert attempt.error.startswith("network")


def test_redirects_are_not_followed(ws, subscribe, sink, clock):
    sink.answer(302)
    hook, _ = subscribe(sink.url)
    event_record(workspace=ws.workspace, type="contact.created", data={})
    assert subscription_deliver(subscription_id=hook.pk).failed
    assert WebhookDelivery.objects.get(subscription=hook).status_code == 302
